"""Extra parallel corpora mixed with the real one: back-translated or forward-translated pairs
(`translator backtranslate`), optionally tagged so the model knows their sources are synthetic
("Tagged Back-Translation", Caswell et al., WMT 2019).

`data.extra` lists "DIR" or "DIR:TAG" (a corpus directory with the same train file names as the
real one; TAG a control symbol of the vocabulary, `vocab.symbols`, such as "<bt>"). Each extra
corpus is encoded with the real corpus' tokenizers and filters into its own cache entry
(translator/data/prepare.py); the mix is one more entry, `mixed/<key>`: about `extra_ratio`
extra pairs per real pair, nothing discarded: the real pairs repeated k = round(extra pairs /
(extra_ratio x real pairs)) times when the extra corpora are the larger side, else the extra
pairs repeated round(extra_ratio x real pairs / extra pairs) times; each extra source after its
tag. Training reads the mix like any corpus. An extra corpus holding a line of the real
corpus' validation or test sets is refused (translator/data/held_out.py).
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from translator.config import Config
from translator.data.compact import CompactCorpus, CompactWriter, token_dtype
from translator.data.corpus import CorpusError, normalize, read_lines
from translator.data.held_out import evaluation_lines, refuse_evaluation_lines
from translator.data.prepare import (
    Prepared,
    cache_key,
    cache_root,
    corpus_entry,
    default_processes,
    encode_corpus,
    prepare,
    publish_entry,
    scratch_dir,
    train_files,
    wait_for_entry,
)
from translator.data.vocab import UNK_ID

log = logging.getLogger(__name__)

TAG = re.compile(r"<[^<>\s:]+>")
"""What a tag looks like: `<bt>`, `<ft>`."""


def parse_extra(spec: str) -> tuple[str, str | None]:
    """("DIR", "TAG" or None) of a `data.extra` entry."""
    head, sep, tail = spec.rpartition(":")
    if sep and TAG.fullmatch(tail):
        return head, tail
    return spec, None


def extra_tags(specs: list[str]) -> list[str]:
    """The tags the extra corpora use, in order (what `vocab.symbols` must hold)."""
    tags = [tag for _, tag in map(parse_extra, specs) if tag]
    return list(dict.fromkeys(tags))


def prepare_mixed(cfg: Config, data_dir: str | Path, src_lang: str, tgt_lang: str,
                  cache_dir: str | Path | None = None, processes: int = 0,
                  tokenizers=None, build: bool = True, progress: bool = True) -> Prepared:
    """`prepare` of the real corpus, then, with `data.extra`, the mix of it and the extra
    corpora (their entries prepared here when missing)."""
    prepared = prepare(cfg, data_dir, src_lang, tgt_lang, cache_dir, processes, tokenizers,
                       build, progress)
    if not cfg.data.extra:
        return prepared
    root = cache_root(cache_dir)
    extras = []
    for spec in cfg.data.extra:
        directory, tag = parse_extra(spec)
        tag_id = _tag_id(prepared, tag, cfg)
        files = train_files(directory, src_lang, tgt_lang)
        entry = corpus_entry(root, files, prepared.src_tok, prepared.tgt_tok, cfg.data)
        if not entry.is_dir():
            if build:
                encode_corpus(cfg.data, files, prepared.src_tok, prepared.tgt_tok, entry,
                              processes or default_processes(), progress)
            else:  # a distributed run's other ranks: the first local rank prepares it
                wait_for_entry(entry)
        extras.append((str(Path(directory).resolve()), tag, tag_id, entry))
    mixed = root / "mixed" / cache_key(real=prepared.directory.name, ratio=cfg.data.extra_ratio,
                                       extras=[(e.name, tag) for _, tag, _, e in extras])
    if not mixed.is_dir():
        if build:
            refuse_held_out([train_files(d, src_lang, tgt_lang) for d, *_ in extras], data_dir,
                            (src_lang, tgt_lang))
            _write_mix(prepared, extras, cfg.data.extra_ratio, mixed)
        else:
            wait_for_entry(mixed)
    corpus = CompactCorpus.load(mixed)
    record = {**prepared.record, "extra": [{"data": d, "tag": tag} for d, tag, _, _ in extras],
              "extra_ratio": cfg.data.extra_ratio}
    n_real, n_extra = len(prepared.corpus), sum(len(CompactCorpus.load(e)) for *_, e in extras)
    repeats, extra_repeats = mix_repeats(n_real, n_extra, cfg.data.extra_ratio)
    if not n_extra:
        log.warning("the extra corpora hold no pair the filters keep (empty lines, too long, "
                    "length ratio): training on the real pairs alone")
    log.info("training data: %d real pairs (x%d) and %d extra (x%d) mixed into %d: %.2f extra "
             "per real pair, %.2f asked (%s)", n_real, repeats, n_extra, extra_repeats,
             len(corpus), extra_repeats * n_extra / (repeats * n_real), cfg.data.extra_ratio,
             mixed)
    return replace(prepared, corpus=corpus, directory=mixed, record=record)


def refuse_held_out(corpora: list[tuple[Path, Path]], data_dir: str | Path,
                    langs: tuple[str, str]) -> None:
    """CorpusError when an extra corpus' source or target file holds a line of `data_dir`'s
    validation or test sets: they never become training data."""
    forbidden = evaluation_lines(data_dir, langs)
    for files in corpora:
        for path in files:
            refuse_evaluation_lines([normalize(line) for line in read_lines(path)], forbidden,
                                    path)


def _tag_id(prepared: Prepared, tag: str | None, cfg: Config) -> int | None:
    if tag is None:
        return None
    tag_id = prepared.src_tok.sp.piece_to_id(tag)
    if tag not in cfg.vocab.symbols or tag_id == UNK_ID:
        raise CorpusError(f"the tag {tag} is not a symbol of the vocabulary: add it to "
                          f"vocab.symbols (`translator train --extra DIR:{tag}` does)")
    return tag_id


def mix_repeats(n_real: int, n_extra: int, ratio: float) -> tuple[int, int]:
    """(times the real pairs are written, times the extra pairs are) for about `ratio` extra
    pairs per real pair, discarding none: the smaller side is repeated (nothing is, with no
    extra pair)."""
    if n_extra == 0 or n_extra >= ratio * n_real:
        return max(1, round(n_extra / (ratio * n_real))), 1
    return 1, max(1, round(ratio * n_real / n_extra))


def _write_mix(prepared: Prepared, extras: list, ratio: float, entry: Path) -> None:
    real = prepared.corpus
    loaded = [(CompactCorpus.load(e), tag_id) for _, _, tag_id, e in extras]
    repeats, extra_repeats = mix_repeats(len(real), sum(len(c) for c, _ in loaded), ratio)
    tmp = scratch_dir(entry)
    writer = CompactWriter(tmp, token_dtype(max(len(prepared.src_tok), len(prepared.tgt_tok))))
    try:
        for _ in range(repeats):
            writer.append(np.asarray(real.src_tokens), real.src_lengths(),
                          np.asarray(real.tgt_tokens), real.tgt_lengths())
        for corpus, tag_id in loaded:
            src, lengths = np.asarray(corpus.src_tokens), corpus.src_lengths()
            if tag_id is not None:  # the tag before each source
                src = np.insert(src, np.asarray(corpus.src_offsets[:-1]), tag_id)
                lengths = lengths + 1
            for _ in range(extra_repeats):
                writer.append(src, lengths, np.asarray(corpus.tgt_tokens),
                              corpus.tgt_lengths())
        writer.close(real=prepared.directory.name, repeats=repeats,
                     extra_repeats=extra_repeats, extras=[str(e) for *_, e in extras])
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_entry(tmp, entry)
