"""Training data prepared once and cached: SentencePiece models and the encoded, filtered corpus.

`prepare` turns a corpus directory's train split into what training needs and keeps it in a
cache directory (`--cache-dir`, `$TRANSLATOR_CACHE`, default `~/.cache/translator`):

    spm/<key>/      src.model, tgt.model: keyed by the train files (path, size, modification
                    time), the vocab section of the config and the seed
    corpora/<key>/  the compact arrays (translator/data/compact.py), casing.json (the casing table
                    learnt from the source side), report.json (what the filters dropped),
                    sha256.json (the train files' hashes, translator/data/corpus_record.py):
                    keyed by the train files, both SentencePiece models and the data section

A second run with the same files and settings memory-maps the arrays and starts at once; a
changed file, filter or vocabulary setting makes a new entry. Entries are written into a
temporary directory and renamed into place, so a run never reads a half-written one and runs
preparing the same entry at once do not clash. Nothing is evicted: remove the directory to
reclaim the space.

The corpus is read as a stream, twice at most: once to sample sentences for SentencePiece
(only when no cached model fits) and once to encode. Encoding runs in `processes` worker
processes (spawned, one thread each, no torch) on chunks of `CHUNK_PAIRS` pairs, at most two
chunks per process in flight, so memory stays flat whatever the corpus size; a corpus of one
chunk is encoded in the calling process (starting a process costs seconds).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from translator.config import Config, DataConfig
from translator.data.casing import CasingCounts, CasingTable
from translator.data.compact import CompactCorpus, CompactWriter, token_dtype
from translator.data.corpus import (
    CorpusError,
    FilterReport,
    decode_line,
    drop_reason,
    find_split_file,
    iter_raw_lines,
)
from translator.data.corpus_record import corpus_record, file_hashes
from translator.data.vocab import Tokenizer, train_tokenizers
from translator.defaults import CACHE_DIR

log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Part of every key: raised when the cached layout or the encoding changes."""

CHUNK_PAIRS = 20_000
"""Pairs per encoding task."""

MAX_PROCESSES = 16
"""The most encoding processes `processes=0` (one per available core) starts."""

POLL_SECONDS = 0.5
"""How often a process waiting for another's preparation (a distributed run's other ranks)
looks for the finished entry."""


@dataclass
class Prepared:
    """What training reads: the encoded pairs, the tokenizers and the casing table."""

    corpus: CompactCorpus
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    casing: CasingTable
    report: FilterReport
    directory: Path  # the corpus' cache entry
    from_cache: bool
    record: dict  # what checkpoints record of the corpus (translator/data/corpus_record.py)
    # a multilingual run's casing table per source language (translator/data/multilingual.py)
    casings: dict[str, CasingTable] | None = None


def cache_root(cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or os.environ.get("TRANSLATOR_CACHE") or CACHE_DIR).expanduser()


def default_processes() -> int:
    return max(1, min(MAX_PROCESSES, len(os.sched_getaffinity(0))))


def train_files(data_dir: str | Path, src_lang: str, tgt_lang: str) -> tuple[Path, Path]:
    return (find_split_file(data_dir, "train", src_lang),
            find_split_file(data_dir, "train", tgt_lang))


def files_identity(files: tuple[Path, Path]) -> list[dict]:
    out = []
    for path in files:
        st = path.stat()
        out.append({"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def cache_key(**parts) -> str:
    text = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def tokenizer_entry(root: Path, files: tuple[Path, Path], cfg: Config) -> Path:
    return root / "spm" / cache_key(files=files_identity(files), vocab=asdict(cfg.vocab),
                                    seed=cfg.train.seed)


def corpus_entry(root: Path, files: tuple[Path, Path], src_tok: Tokenizer, tgt_tok: Tokenizer,
                 data: DataConfig) -> Path:
    spm = [hashlib.sha256(t.model_bytes).hexdigest() for t in (src_tok, tgt_tok)]
    return root / "corpora" / cache_key(files=files_identity(files), spm=spm, data=filters(data))


def filters(data: DataConfig) -> dict:
    """The data section's settings that shape one corpus' entry (its filters; not the mixing
    of extra corpora, nor a multilingual run's languages, which have entries of their own:
    translator/data/mixing.py, translator/data/multilingual.py; nor the sampling of
    segmentations during training, translator/data/sampling.py)."""
    return {k: v for k, v in asdict(data).items()
            if k not in ("extra", "extra_ratio", "langs", "directions", "subword_alpha")}


def prepare(cfg: Config, data_dir: str | Path, src_lang: str, tgt_lang: str,
            cache_dir: str | Path | None = None, processes: int = 0,
            tokenizers: tuple[Tokenizer, Tokenizer] | None = None, build: bool = True,
            progress: bool = True) -> Prepared:
    """The train split of `data_dir` prepared for training, from the cache when it holds it.

    `tokenizers` (a resumed run's) are used instead of cached or newly trained ones. With
    `build=False` this process prepares nothing itself: it waits for the entries another process
    (a distributed run's first local rank) is writing.
    """
    root = cache_root(cache_dir)
    files = train_files(data_dir, src_lang, tgt_lang)
    if tokenizers is None:
        tokenizers = _tokenizers(cfg, files, root, build, progress)
    src_tok, tgt_tok = tokenizers
    entry = corpus_entry(root, files, src_tok, tgt_tok, cfg.data)
    from_cache = entry.is_dir()
    if not from_cache:
        if build:
            encode_corpus(cfg.data, files, src_tok, tgt_tok, entry,
                          processes or default_processes(), progress)
        else:
            wait_for_entry(entry)
    casing = CasingTable.from_dict(json.loads((entry / "casing.json").read_text()))
    report = FilterReport(**json.loads((entry / "report.json").read_text()))
    try:
        corpus = CompactCorpus.load(entry)
    except ValueError as exc:
        raise CorpusError(str(exc)) from None
    record = corpus_record(data_dir, src_lang, tgt_lang, files, entry)
    return Prepared(corpus, src_tok, tgt_tok, casing, report, entry, from_cache, record)


# ----------------------------------------------------------------------------- SentencePiece
def _tokenizers(cfg: Config, files: tuple[Path, Path], root: Path, build: bool,
                progress: bool) -> tuple[Tokenizer, Tokenizer]:
    entry = tokenizer_entry(root, files, cfg)
    if not entry.is_dir():
        if not build:
            wait_for_entry(entry)
        else:
            start = time.perf_counter()
            src_tok, tgt_tok = _train_tokenizers(cfg, files, progress)
            tmp = scratch_dir(entry)
            (tmp / "src.model").write_bytes(src_tok.model_bytes)
            (tmp / "tgt.model").write_bytes(tgt_tok.model_bytes)
            publish_entry(tmp, entry)
            log.info("trained SentencePiece (%d pieces) in %.1f s: cached in %s", len(src_tok),
                     time.perf_counter() - start, entry)
    return (Tokenizer((entry / "src.model").read_bytes()),
            Tokenizer((entry / "tgt.model").read_bytes()))


def _train_tokenizers(cfg: Config, files: tuple[Path, Path], progress: bool
                      ) -> tuple[Tokenizer, Tokenizer]:
    """SentencePiece trained on a sample of the train split's sentences, read as a stream
    (and the two sides' line counts checked on the way)."""
    counts = [0, 0]
    bar = tqdm(unit="lines", unit_scale=True, desc="sample for SentencePiece",
               disable=not progress, mininterval=1.0)

    def numbered(side: int) -> Iterator[tuple[int, bytes]]:
        for number, raw in enumerate(iter_raw_lines(files[side]), 1):
            counts[side] = number
            if not number % 10_000:
                bar.update(10_000)
            yield number, raw

    def text(item: tuple[int, bytes], side: int) -> str:
        return decode_line(item[1], files[side], item[0])

    v = cfg.vocab
    src = ((0, item) for item in numbered(0))
    tgt = ((1, item) for item in numbered(1))
    tokenizers = train_tokenizers(src, tgt, v.size, v.model_type, v.joint, v.character_coverage,
                                  v.max_sentences, cfg.train.seed,
                                  text=lambda tagged: text(tagged[1], tagged[0]),
                                  symbols=v.symbols)
    bar.close()
    if counts[0] != counts[1]:
        raise _count_error(files, counts)
    return tokenizers


def _count_error(files: tuple[Path, Path], counts: list[int]) -> CorpusError:
    return CorpusError(f"line counts differ: {files[0]} has {counts[0]} lines, {files[1]} has "
                       f"{counts[1]}")


# ----------------------------------------------------------------------------- encoding
_WORKER: dict = {}
"""An encoding process' tokenizers, files and filter settings (set by `_start_worker`)."""


def _start_worker(src_model: bytes, tgt_model: bytes, files: tuple[str, str],
                  data: dict) -> None:
    import sentencepiece as spm

    _WORKER.update(src=spm.SentencePieceProcessor(model_proto=src_model),
                   tgt=spm.SentencePieceProcessor(model_proto=tgt_model), files=files, data=data)


def _flat(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32,
                         count=int(lengths.sum()))
    return tokens, lengths


def _encode_chunk(first: int, src_raw: list[bytes], tgt_raw: list[bytes]) -> dict:
    """Decode, normalise, encode and filter one chunk of pairs (lines `first`...)."""
    w, d = _WORKER, _WORKER["data"]
    src = [decode_line(raw, w["files"][0], first + i) for i, raw in enumerate(src_raw)]
    tgt = [decode_line(raw, w["files"][1], first + i) for i, raw in enumerate(tgt_raw)]
    casing = CasingCounts().add(src)
    src_ids = w["src"].encode(src, out_type=int, num_threads=1)
    tgt_ids = w["tgt"].encode(tgt, out_type=int, num_threads=1)
    dropped: Counter[str] = Counter()
    kept_src, kept_tgt = [], []
    for s, t, a, b in zip(src, tgt, src_ids, tgt_ids):
        longest = max(len(a), len(b))  # subwords, the longer side
        reason = drop_reason(s, t, longest, longest, d["max_len"], d["max_ratio"],
                             d["min_len_for_ratio"])
        if reason:
            dropped[reason] += 1
        else:
            kept_src.append(a)
            kept_tgt.append(b)
    return {"src": _flat(kept_src), "tgt": _flat(kept_tgt), "dropped": dict(dropped),
            "casing": casing}


def _chunks(files: tuple[Path, Path], size: int) -> Iterator[tuple[int, list, list]]:
    """(first line number, source lines, target lines) of `size` pairs at a time."""
    src, tgt = iter_raw_lines(files[0]), iter_raw_lines(files[1])
    first = 1
    while True:
        a, b = list(itertools.islice(src, size)), list(itertools.islice(tgt, size))
        if len(a) != len(b):
            counts = [first - 1 + len(a) + sum(1 for _ in src),
                      first - 1 + len(b) + sum(1 for _ in tgt)]
            raise _count_error(files, counts)
        if not a:
            return
        yield first, a, b
        first += len(a)


def encode_corpus(data: DataConfig, files: tuple[Path, Path], src_tok: Tokenizer,
                  tgt_tok: Tokenizer, entry: Path, processes: int, progress: bool) -> None:
    start = time.perf_counter()
    tmp = scratch_dir(entry)
    writer = CompactWriter(tmp, token_dtype(max(len(src_tok), len(tgt_tok))))
    casing, report = CasingCounts(), FilterReport()
    init = (src_tok.model_bytes, tgt_tok.model_bytes, tuple(map(str, files)), asdict(data))
    bar = tqdm(unit="pairs", unit_scale=True, desc=f"encode ({processes} processes)",
               disable=not progress, mininterval=1.0)

    def take(result: dict) -> None:
        try:
            writer.append(*result["src"], *result["tgt"])
        except OSError as exc:  # a full disk
            raise _cache_error(entry, exc) from None
        casing.merge(result["casing"])
        for reason, n in result["dropped"].items():
            report.dropped[reason] += n
        bar.update(len(result["src"][1]) + sum(result["dropped"].values()))

    try:
        chunks, single = _peek_single(_chunks(files, CHUNK_PAIRS))
        if single:
            processes = 1  # one chunk is one task: starting processes for it only costs time
        elif processes > 1 and not _spawn_safe():
            log.warning("encoding in this process: the main module (%s) cannot be imported "
                        "by encoding processes",
                        getattr(sys.modules["__main__"], "__file__", None))
            processes = 1
        if processes == 1:
            _start_worker(*init)
            for chunk in chunks:
                take(_encode_chunk(*chunk))
        else:
            _encode_in_pool(chunks, init, processes, take)
        report.kept = writer.pairs
        try:
            writer.close(files=files_identity(files), processes=processes,
                         seconds=round(time.perf_counter() - start, 2))
            (tmp / "casing.json").write_text(
                json.dumps(CasingTable.from_counts(casing).to_dict()))
            (tmp / "report.json").write_text(json.dumps(asdict(report)))
            file_hashes(files, tmp)  # sha256.json: what checkpoints record (corpus_record.py)
        except OSError as exc:
            raise _cache_error(entry, exc) from None
    except BaseException:
        writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    publish_entry(tmp, entry)
    seconds = time.perf_counter() - start
    total = report.kept + sum(report.dropped.values())
    log.info("encoded %d pairs in %.1f s (%.0f lines/s, %d processes): cached in %s", total,
             seconds, 2 * total / max(seconds, 1e-9), processes, entry)


def _spawn_safe() -> bool:
    """Whether spawned processes can start: they import the caller's main module by its file
    (a script needs Python's usual `if __name__ == "__main__":` guard), which `python -` or
    `python -c` do not have; a notebook's has no file, and none is imported."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path is None or os.path.isfile(path)


def _peek_single(chunks: Iterator) -> tuple[Iterator, bool]:
    """The same chunks, and whether there is at most one (read ahead by two)."""
    ahead = list(itertools.islice(chunks, 2))
    return itertools.chain(ahead, chunks), len(ahead) < 2


def _encode_in_pool(chunks: Iterator, init: tuple, processes: int, take) -> None:
    import multiprocessing

    # spawned, not forked: a forked child inherits the parent's threads and connections (a
    # kombu pool's after-fork hook hung on an inherited Redis socket); a spawned one imports
    # numpy and sentencepiece only, and re-imports the caller's main module (`_spawn_safe`)
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start_worker, initargs=init) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_encode_chunk, chunk))
            if len(pending) >= 2 * processes:
                take(pending.popleft().get())
        while pending:
            take(pending.popleft().get())


# ----------------------------------------------------------------------------- cache entries
def scratch_dir(entry: Path) -> Path:
    """A new, empty scratch directory beside `entry`, unique to this call (machines that
    share a cache can run processes with the same pid)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp"))
    except OSError as exc:
        raise _cache_error(entry, exc) from None


def _cache_error(entry: Path, exc: OSError) -> CorpusError:
    return CorpusError(f"cannot write the corpus cache in {entry.parent}: {exc.strerror} "
                       f"(choose another with --cache-dir or TRANSLATOR_CACHE)")


def publish_entry(tmp: Path, entry: Path) -> None:
    """Rename a finished scratch directory into place (another process' may have won)."""
    try:
        os.rename(tmp, entry)
    except OSError:
        if not entry.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_entry(entry: Path) -> None:
    while not entry.is_dir():
        time.sleep(POLL_SECONDS)
