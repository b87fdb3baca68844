"""One model for several directions: the training data of a multilingual run ("Google's
Multilingual Neural Machine Translation System", Johnson et al., 2017).

A multi-way corpus has `train.<lang>` files aligned line by line across its languages
(Multi30K's en, de, fr and cs are the same 29,000 captions). A multilingual run trains every
direction of `data.directions` at once:

- one SentencePiece model for every language, trained on an even sample of each language's
  train file (`vocab.max_sentences` split evenly), so no language's pieces crowd out another's;
- each direction's pairs encoded into its own cache entry (translator/data/prepare.py, the same
  entry any run of that pair with this tokenizer would use);
- one more entry, `multi/<key>`, where every direction's pairs follow one another, each source
  ending in its target language's token (`<2fr>`, a control symbol of the vocabulary): the
  encoder reads which language to write. Training batches draw from it like any corpus, so a
  batch mixes directions.

The token ends the source (before the end-of-sentence the batch adds) rather than starting it,
so every source position of the text stays where a bilingual model has it: the protected spans'
subword positions and the attention alignments need no shift (translator/inference/protect.py,
align.py), and the bidirectional encoder reads the token first in its backward direction.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from translator.config import Config, ConfigError, TrainConfig, VocabConfig
from translator.data.casing import CasingTable
from translator.data.compact import CompactCorpus, CompactWriter, token_dtype
from translator.data.corpus import (
    CorpusError,
    FilterReport,
    ParallelCorpus,
    decode_line,
    find_split_file,
    iter_raw_lines,
    read_split,
)
from translator.data.prepare import (
    Prepared,
    cache_key,
    cache_root,
    files_identity,
    prepare,
    publish_entry,
    scratch_dir,
    wait_for_entry,
)
from translator.data.vocab import Tokenizer, sample_sentences, train_model_bytes
from translator.defaults import MULTILINGUAL_VAL_SENTENCES, PIVOT_LANGUAGE
from translator.languages import lang_token, parse_pairs, valid_language

log = logging.getLogger(__name__)


def resolve_directions(langs: Sequence[str], directions: str | None = None,
                       english_centric: bool = False) -> list[str]:
    """The directions a run trains: `directions` ("de-en,en-de"), or every direction to and
    from PIVOT_LANGUAGE (English) with `english_centric`, or else every ordered pair of `langs`."""
    langs = list(langs)
    bad = [lang for lang in langs if not valid_language(lang)]
    if bad:
        raise ConfigError(f"--langs: {bad[0]!r} is not a language code (2 to 8 letters)")
    if len(set(langs)) != len(langs) or len(langs) < 2:
        raise ConfigError("--langs needs at least two different languages, each named once")
    if directions and english_centric:
        raise ConfigError("choose --directions or --english-centric, not both")
    if directions:
        out = [f"{s}-{t}" for s, t in parse_pairs(directions)]
        for pair in out:
            if any(lang not in langs for lang in pair.split("-")):
                raise ConfigError(f"--directions: {pair} is not a pair of --langs "
                                  f"({','.join(langs)})")
        return out
    if english_centric:
        if PIVOT_LANGUAGE not in langs:
            raise ConfigError(f"--english-centric needs {PIVOT_LANGUAGE} among --langs")
        others = [lang for lang in langs if lang != PIVOT_LANGUAGE]
        return [d for lang in others for d in (f"{lang}-{PIVOT_LANGUAGE}",
                                                   f"{PIVOT_LANGUAGE}-{lang}")]
    return [f"{s}-{t}" for s in langs for t in langs if s != t]


PIECES_PER_LANGUAGE = 2000
"""A multilingual run's vocabulary when the configuration keeps the base size (4,000 pieces,
the base model's for two languages): this many pieces per language (8,000 for en, de, fr and
cs). Not tuned by measurement; a --config file's `vocab.size` other than the base size sets
it (the base size itself reads as "not set")."""


def multilingual_config(cfg: Config, langs: Sequence[str], directions: Sequence[str]) -> Config:
    """`cfg` for a multilingual run: the languages and directions in the data section, one
    shared vocabulary with a token per target language among its symbols (and, at the
    base size, `PIECES_PER_LANGUAGE` per language). A language of `langs` that no direction
    uses is left out (of the vocabulary's sample and size, and of the data read)."""
    in_directions = {lang for pair in pairs_of(directions) for lang in pair}
    used = [lang for lang in langs if lang in in_directions]
    if len(used) < len(langs):
        log.info("%s: in no direction of the run, left out of its vocabulary",
                 ", ".join(lang for lang in langs if lang not in used))
    langs = used
    targets = [lang_token(lang) for lang in langs if any(d.endswith(f"-{lang}")
                                                         for d in directions)]
    cfg = cfg.override("data", langs=list(langs), directions=list(directions))
    symbols = list(dict.fromkeys([*cfg.vocab.symbols, *targets]))
    size = cfg.vocab.size
    if size == VocabConfig().size:
        size = max(size, PIECES_PER_LANGUAGE * len(langs))
    return cfg.override("vocab", symbols=symbols, joint=True, size=size)


def pairs_of(directions: Sequence[str]) -> list[tuple[str, str]]:
    """["de-en", ...] -> [("de", "en"), ...]."""
    return [tuple(d.split("-", 1)) for d in directions]  # type: ignore[misc]


# ----------------------------------------------------------------------------- training data
def prepare_multilingual(cfg: Config, data_dir: str | Path,
                         cache_dir: str | Path | None = None, processes: int = 0,
                         tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
                         build: bool = True, progress: bool = True) -> Prepared:
    """The training data of a multilingual run (the module docstring), from the cache when it
    holds it. `casing` of the result is the first source language's table; `casings` holds
    every source language's."""
    if cfg.data.extra:
        raise CorpusError("--extra is for a run of one pair; a multilingual run (--langs) "
                          "trains on the multi-way corpus alone")
    root = cache_root(cache_dir)
    langs, directions = cfg.data.langs, cfg.data.directions
    files = {lang: find_split_file(data_dir, "train", lang) for lang in langs}
    if tokenizers is None:
        tokenizers = _shared_tokenizer(cfg, files, root, build, progress)
    tok = tokenizers[0]
    pairs = pairs_of(directions)
    parts = [prepare(cfg, data_dir, s, t, cache_dir, processes, (tok, tok), build, progress)
             for s, t in pairs]
    token_ids = [_token_id(tok, t) for _, t in pairs]
    entry = root / "multi" / cache_key(parts=[p.directory.name for p in parts],
                                       directions=list(directions))
    cached = entry.is_dir()
    if not cached:
        if build:
            _write_multi(parts, token_ids, len(tok), entry)
        else:
            wait_for_entry(entry)
    casings: dict[str, CasingTable] = {}
    for (src, _), part in zip(pairs, parts):
        casings.setdefault(src, part.casing)
    report = FilterReport(kept=sum(p.report.kept for p in parts))
    for part in parts:
        for reason, n in part.report.dropped.items():
            report.dropped[reason] = report.dropped.get(reason, 0) + n
    record = {"data": parts[0].record["data"], "langs": list(langs),
              "directions": list(directions),
              "files": {k: v for p in parts for k, v in p.record["files"].items()}}
    return replace(parts[0], corpus=CompactCorpus.load(entry), directory=entry, report=report,
                   record=record, casing=casings[pairs[0][0]], casings=casings,
                   from_cache=cached and all(p.from_cache for p in parts))


def _token_id(tok: Tokenizer, lang: str) -> int:
    token_id = tok.symbol_id(lang_token(lang))
    if token_id is None:
        raise CorpusError(f"the vocabulary has no {lang_token(lang)} token: a multilingual "
                          f"run's vocab.symbols must hold every target language's")
    return token_id


def _shared_tokenizer(cfg: Config, files: dict[str, Path], root: Path, build: bool,
                      progress: bool) -> tuple[Tokenizer, Tokenizer]:
    """One SentencePiece model for every language, cached under spm/<key> like a pair's."""
    entry = root / "spm" / cache_key(files=files_identity(tuple(files.values())),
                                     langs=list(files), vocab=asdict(cfg.vocab),
                                     seed=cfg.train.seed)
    if not entry.is_dir():
        if not build:
            wait_for_entry(entry)
        else:
            model = _train_shared(cfg, files)
            tmp = scratch_dir(entry)
            (tmp / "src.model").write_bytes(model)
            (tmp / "tgt.model").write_bytes(model)
            publish_entry(tmp, entry)
            log.info("trained one SentencePiece model for %s: cached in %s",
                     ", ".join(files), entry)
    tok = Tokenizer((entry / "src.model").read_bytes())
    return tok, tok


def _train_shared(cfg: Config, files: dict[str, Path]) -> bytes:
    """A SentencePiece model trained on an even sample of every language's sentences."""
    v = cfg.vocab
    rng = random.Random(cfg.train.seed)  # noqa: S311 (a seeded sample, not a secret)
    per_language = max(1, v.max_sentences // len(files))
    sentences: list[str] = []
    for path in files.values():
        numbered = enumerate(iter_raw_lines(path), 1)
        sentences += sample_sentences(numbered, per_language, rng,
                                      lambda item, path=path: decode_line(item[1], path, item[0]))
    return train_model_bytes(sentences, v.size, v.model_type, v.character_coverage, v.symbols)


def _write_multi(parts: list[Prepared], token_ids: list[int], vocab_size: int,
                 entry: Path) -> None:
    """Every direction's pairs, one after another, each source ending in its token."""
    tmp = scratch_dir(entry)
    writer = CompactWriter(tmp, token_dtype(vocab_size))
    try:
        for part, token_id in zip(parts, token_ids):
            corpus = part.corpus
            # (n_tokens + n_pairs,): the direction's token inserted at each source's end
            src = np.insert(np.asarray(corpus.src_tokens), np.asarray(corpus.src_offsets[1:]),
                            token_id)
            writer.append(src, corpus.src_lengths() + 1, np.asarray(corpus.tgt_tokens),
                          corpus.tgt_lengths())
        writer.close(parts=[str(p.directory) for p in parts])
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_entry(tmp, entry)


# ----------------------------------------------------------------------------- validation
def validation_sets(data_dir: str | Path, directions: Sequence[str], limit: int,
                    seed: int = TrainConfig.seed,
                    split: str = "val") -> dict[str, ParallelCorpus]:
    """{direction: its pairs of `split`}: with `limit`, the same `limit` lines of the
    (multi-way) split for every direction, drawn once with `seed` (a run's validation: its
    own; calibrations: the default training seed)."""
    sets = {d: read_split(data_dir, split, *pair)
            for d, pair in zip(directions, pairs_of(directions))}
    sizes = {len(c.src) for c in sets.values()}
    if len(sizes) > 1:
        raise CorpusError(f"the validation files of {', '.join(directions)} differ in length: a "
                          f"multilingual corpus' files must be aligned line by line")
    size = sizes.pop()
    if not limit or limit >= size:
        return sets
    rows = sorted(random.Random(seed).sample(range(size), limit))  # noqa: S311
    out = {}
    for direction, corpus in sets.items():
        out[direction] = ParallelCorpus([corpus.src[i] for i in rows],
                                        [corpus.tgt[i] for i in rows], corpus.name)
    return out


def run_validation_sets(cfg: Config, data_dir: str | Path, src: str | None,
                        tgt: str | None) -> dict[str, ParallelCorpus]:
    """A run's validation pairs per direction: a pair's whole split, or a multilingual run's
    fixed sample of `train.eval_max_sentences` (default MULTILINGUAL_VAL_SENTENCES) per
    direction."""
    if not cfg.data.langs:
        return {f"{src}-{tgt}": read_split(data_dir, "val", src, tgt)}
    return validation_sets(data_dir, cfg.data.directions,
                           cfg.train.eval_max_sentences or MULTILINGUAL_VAL_SENTENCES,
                           cfg.train.seed)


# ----------------------------------------------------------------------------- checkpoints
def run_languages(cfg: Config, src: str | None, tgt: str | None) -> dict:
    """What a checkpoint's `meta` says of its languages: a pair's `src_lang` and `tgt_lang`,
    or a multilingual model's `langs` and `directions`."""
    if cfg.data.langs:
        return {"langs": list(cfg.data.langs), "directions": list(cfg.data.directions)}
    return {"src_lang": src, "tgt_lang": tgt}


def casing_entry(casing: CasingTable, casings: dict[str, CasingTable]) -> dict:
    """A checkpoint's `casing` entry: the source's table, and a multilingual model's table per
    source language."""
    entry = {"src": casing.to_dict()}
    if casings:
        entry["langs"] = {lang: table.to_dict() for lang, table in casings.items()}
    return entry
