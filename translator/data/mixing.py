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
tag. Training reads the mix like any corpus. An extra pair with a side equal to a line of the
real corpus' validation or test sets (translator/data/held_out.py) is left out, with a
warning: back-translated sources do meet test sources now and then (14 of the 115,548
synthetic German sentences of the De->En recipe did), and they never become training data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from translator.config import Config
from translator.data.compact import META, CompactCorpus, CompactWriter, token_dtype
from translator.data.corpus import CorpusError
from translator.data.held_out import evaluation_lines
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
    held = (evaluation_lines(data_dir, (src_lang,)), evaluation_lines(data_dir, (tgt_lang,)))
    mixed = root / "mixed" / cache_key(real=prepared.directory.name, ratio=cfg.data.extra_ratio,
                                       extras=[(e.name, tag) for _, tag, _, e in extras],
                                       held_out=held_out_key(held))
    if not mixed.is_dir():
        if build:
            _write_mix(prepared, extras, cfg.data.extra_ratio, mixed,
                       held_out_ids(prepared, held))
        else:
            wait_for_entry(mixed)
    corpus = CompactCorpus.load(mixed)
    record = {**prepared.record, "extra": [{"data": d, "tag": tag} for d, tag, _, _ in extras],
              "extra_ratio": cfg.data.extra_ratio}
    _log_mix(json.loads((mixed / META).read_text()), len(corpus), cfg.data.extra_ratio, mixed)
    return replace(prepared, corpus=corpus, directory=mixed, record=record)


def held_out_key(held: tuple[set[str], set[str]]) -> str:
    """What the mix's held-out pairs depend on: the evaluation lines of both languages
    (source's, target's)."""
    lines = sorted(held[0]) + ["\t"] + sorted(held[1])
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def held_out_ids(prepared: Prepared, held: tuple[set[str], set[str]]
                 ) -> tuple[set[tuple[int, ...]], set[tuple[int, ...]]]:
    """The evaluation lines of each language as the corpus encodes them (normalised, then
    SentencePiece: deterministic), to find them among extra pairs."""
    return ({tuple(ids) for ids in prepared.src_tok.encode(sorted(held[0]))},
            {tuple(ids) for ids in prepared.tgt_tok.encode(sorted(held[1]))})


def _not_held_out(corpus: CompactCorpus, held: tuple[set, set]) -> np.ndarray:
    """Which pairs (bool per pair) have neither side equal to an evaluation line."""
    src_offsets, tgt_offsets = np.asarray(corpus.src_offsets), np.asarray(corpus.tgt_offsets)
    src, tgt = np.asarray(corpus.src_tokens), np.asarray(corpus.tgt_tokens)
    src_lengths, tgt_lengths = corpus.src_lengths(), corpus.tgt_lengths()
    lengths = ({len(s) for s in held[0]}, {len(t) for t in held[1]})
    keep = np.ones(len(corpus), dtype=bool)
    for i in range(len(corpus)):  # only pairs of a length some evaluation line has
        if src_lengths[i] in lengths[0] and \
                tuple(src[src_offsets[i]:src_offsets[i + 1]].tolist()) in held[0]:
            keep[i] = False
        elif tgt_lengths[i] in lengths[1] and \
                tuple(tgt[tgt_offsets[i]:tgt_offsets[i + 1]].tolist()) in held[1]:
            keep[i] = False
    return keep


def _log_mix(meta: dict, n_mixed: int, ratio: float, entry: Path) -> None:
    n_real, n_extra = meta.get("real_pairs"), meta.get("extra_pairs")
    if meta.get("held_out"):
        log.warning("%d extra pair(s) left out of the mix: a side equal to a validation or "
                    "test line (they never become training data)", meta["held_out"])
    if n_extra == 0:
        log.warning("the extra corpora hold no pair the filters keep (empty lines, too long, "
                    "length ratio): training on the real pairs alone")
    if n_real and n_extra is not None:
        log.info("training data: %d real pairs (x%d) and %d extra (x%d) mixed into %d: %.2f "
                 "extra per real pair, %.2f asked (%s)", n_real, meta["repeats"], n_extra,
                 meta["extra_repeats"], n_mixed,
                 meta["extra_repeats"] * n_extra / (meta["repeats"] * n_real), ratio, entry)


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
    pairs per real pair, discarding none: the smaller side is repeated (nothing is when a side
    is empty)."""
    if n_extra == 0 or n_real == 0:
        return 1, 1
    if n_extra >= ratio * n_real:
        return max(1, round(n_extra / (ratio * n_real))), 1
    return 1, max(1, round(ratio * n_real / n_extra))


def _write_mix(prepared: Prepared, extras: list, ratio: float, entry: Path,
               held: tuple[set, set]) -> None:
    """The mix's entry: the real pairs and the extra ones (tagged), each side repeated as
    `mix_repeats` says, less the extra pairs with a side equal to an evaluation line."""
    real = prepared.corpus
    loaded = [(CompactCorpus.load(e), tag_id) for _, _, tag_id, e in extras]
    kept = [_not_held_out(corpus, held) for corpus, _ in loaded]
    n_extra = int(sum(k.sum() for k in kept))
    repeats, extra_repeats = mix_repeats(len(real), n_extra, ratio)
    tmp = scratch_dir(entry)
    writer = CompactWriter(tmp, token_dtype(max(len(prepared.src_tok), len(prepared.tgt_tok))))
    try:
        for _ in range(repeats):
            writer.append(np.asarray(real.src_tokens), real.src_lengths(),
                          np.asarray(real.tgt_tokens), real.tgt_lengths())
        for (corpus, tag_id), keep in zip(loaded, kept):
            src, lengths = np.asarray(corpus.src_tokens), corpus.src_lengths()
            tgt, tgt_lengths = np.asarray(corpus.tgt_tokens), corpus.tgt_lengths()
            if not keep.all():
                src, tgt = src[np.repeat(keep, lengths)], tgt[np.repeat(keep, tgt_lengths)]
                lengths, tgt_lengths = lengths[keep], tgt_lengths[keep]
            if tag_id is not None:  # the tag before each source
                starts = np.cumsum(lengths) - lengths  # each source's first token (none: [])
                src = np.insert(src, starts, tag_id)
                lengths = lengths + 1
            for _ in range(extra_repeats):
                writer.append(src, lengths, tgt, tgt_lengths)
        writer.close(real=prepared.directory.name, repeats=repeats,
                     extra_repeats=extra_repeats, extras=[str(e) for *_, e in extras],
                     real_pairs=len(real), extra_pairs=n_extra,
                     held_out=int(sum(len(k) - k.sum() for k in kept)))
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_entry(tmp, entry)
