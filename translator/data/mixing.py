"""Extra parallel corpora mixed with the real one: back-translated or forward-translated pairs
(`translator backtranslate`), optionally tagged so the model knows their sources are synthetic
("Tagged Back-Translation", Caswell et al., WMT 2019).

`data.extra` lists "DIR" or "DIR:TAG" (a corpus directory with the same train file names as the
real one; TAG a control symbol of the vocabulary, `vocab.symbols`, such as "<bt>"). Each extra
corpus is encoded with the real corpus' tokenizers and filters into its own cache entry
(translator/data/prepare.py); the mix is one more entry, `mixed/<key>`: the real pairs repeated
k times and every extra pair once, its source after the tag, where k = max(1, round(extra pairs
/ (extra_ratio x real pairs))) keeps about `extra_ratio` extra pairs per real pair without
discarding any extra pair. Training reads the mix like any corpus.
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
from translator.data.corpus import CorpusError
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
            _write_mix(prepared, extras, cfg.data.extra_ratio, mixed)
        else:
            wait_for_entry(mixed)
    corpus = CompactCorpus.load(mixed)
    record = {**prepared.record, "extra": [{"data": d, "tag": tag} for d, tag, _, _ in extras],
              "extra_ratio": cfg.data.extra_ratio}
    log.info("training data: %d real pairs and %d extra mixed into %d (%s)",
             len(prepared.corpus), sum(len(CompactCorpus.load(e)) for *_, e in extras),
             len(corpus), mixed)
    return replace(prepared, corpus=corpus, directory=mixed, record=record)


def _tag_id(prepared: Prepared, tag: str | None, cfg: Config) -> int | None:
    if tag is None:
        return None
    tag_id = prepared.src_tok.sp.piece_to_id(tag)
    if tag not in cfg.vocab.symbols or tag_id == UNK_ID:
        raise CorpusError(f"the tag {tag} is not a symbol of the vocabulary: add it to "
                          f"vocab.symbols (`translator train --extra DIR:{tag}` does)")
    return tag_id


def _write_mix(prepared: Prepared, extras: list, ratio: float, entry: Path) -> None:
    real = prepared.corpus
    loaded = [(CompactCorpus.load(e), tag_id) for _, _, tag_id, e in extras]
    n_extra = sum(len(c) for c, _ in loaded)
    repeats = max(1, round(n_extra / (ratio * len(real))))
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
            writer.append(src, lengths, np.asarray(corpus.tgt_tokens), corpus.tgt_lengths())
        writer.close(real=prepared.directory.name, repeats=repeats,
                     extras=[str(e) for *_, e in extras])
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_entry(tmp, entry)
