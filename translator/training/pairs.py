"""A training run (`train_run`: train one pair or a multilingual model, then score the test
split and write summary.json); translator/training/train_pairs.py runs a set of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from translator.config import Config
from translator.data.corpus import CorpusError
from translator.defaults import TEST_SPLIT
from translator.training.index import INDEX, SUMMARY, write_index


def score_test_split(run_dir: Path, data_dir: str | Path, src: str | None, tgt: str | None,
                     beams: Sequence[int]) -> dict:
    """The test split scored with the run's best.pt at each beam size ({} without a test
    split): `test_2016_flickr_bleu_beam5` and the like, the sacreBLEU signatures, and the
    hypotheses written next to the checkpoint. A multilingual model (`src` and `tgt` None)
    is scored in every direction: each direction's scores under "directions", their means
    at the top."""
    from translator.inference.translator import Translator

    if not beams:
        return {}
    best = Translator.from_checkpoint(run_dir / "best.pt")
    if not best.multilingual:
        return _score_direction(best, run_dir, data_dir, beams, suffix=tgt or "")
    scores = {d: _score_direction(best.for_pair(*d.split("-", 1)), run_dir, data_dir, beams,
                                  suffix=f"{d}.{d.split('-', 1)[1]}")
              for d in best.directions}
    scores = {d: s for d, s in scores.items() if s}
    if not scores:
        return {}
    first = next(iter(scores.values()))
    out: dict = {k: round(sum(s[k] for s in scores.values()) / len(scores), 2)
                 for k in first if k.startswith(TEST_SPLIT)}
    out["signatures"] = first["signatures"]
    out["bleu_signature"] = first["bleu_signature"]
    out["directions"] = {d: {k: v for k, v in s.items() if k.startswith(TEST_SPLIT)}
                         for d, s in scores.items()}
    return out


def _score_direction(translator, run_dir: Path, data_dir: str | Path, beams: Sequence[int],
                     suffix: str) -> dict:
    """`score_test_split` of one direction; its hypotheses in `<split>.<beam>.<suffix>`."""
    from translator.data.corpus import find_split_file, read_split
    from translator.evaluation.evaluate import score

    src, tgt = translator.src_lang, translator.tgt_lang
    try:
        find_split_file(data_dir, TEST_SPLIT, src)
        find_split_file(data_dir, TEST_SPLIT, tgt)
    except CorpusError:
        return {}
    test = read_split(data_dir, TEST_SPLIT, src, tgt)
    out: dict = {}
    for beam in sorted(set(beams)):
        hyps = translator.translate(test.src, beam_size=beam)
        scores = score(hyps, test.tgt)
        name = "greedy" if beam == 1 else f"beam{beam}"
        for metric in ("bleu", "chrf", "ter"):
            out[f"{TEST_SPLIT}_{metric}_{name}"] = round(scores[metric], 2)
        out["bleu_signature"] = scores["signatures"]["bleu"]
        out["signatures"] = scores["signatures"]
        (run_dir / f"{TEST_SPLIT}.{name}.{suffix}").write_text("\n".join(hyps) + "\n")
    return out


def train_run(cfg: Config, data_dir: str | Path, src: str | None, tgt: str | None,
              out: str | Path,
              resume: bool = False, progress: bool = True, overrides: dict | None = None,
              test_beams: Sequence[int] = (), echo: Callable[[str], None] | None = None,
              cache_dir: str | Path | None = None, prepare_processes: int = 0,
              init_from: str | Path | None = None) -> dict:
    """Train one pair (or, with `data.langs` and no `src`/`tgt`, a multilingual model:
    translator/data/multilingual.py) into `out` (a new run from `init_from`'s weights when
    given: warm_start.py), score the test split and write summary.json; the summary
    (stop_reason "interrupted" and no summary.json when the run was interrupted). Under
    torchrun, rank 0 scores and writes; the other ranks' summaries carry their "rank"."""
    from translator.training.trainer import Trainer

    trainer = Trainer(cfg, data_dir, src, tgt, out, resume=resume, progress=progress,
                      resume_overrides=overrides, cache_dir=cache_dir,
                      prepare_processes=prepare_processes, init_from=init_from)
    finished = False
    try:
        if trainer.ranks.main:
            (echo or say_on_stderr)(trainer.filter_report.summary())
        summary = trainer.run()
        if trainer.ranks.main and summary.get("stop_reason") != "interrupted":
            _score_and_write_summary(summary, Path(out), data_dir, src, tgt, test_beams,
                                     trainer.cfg.data.directions)
        finished = True
    finally:
        # without an exception (an interrupt included), every rank waits there for rank 0's
        # last write (summary.json or last.pt); after one, none waits for a crashed rank
        trainer.close(success=finished)
    return summary


def _score_and_write_summary(summary: dict, run_dir: Path, data_dir: str | Path,
                             src: str | None, tgt: str | None, test_beams: Sequence[int],
                             directions: Sequence[str] = ()) -> None:
    """summary.json with the test scores; a multilingual run's `directions` always (each
    with its scores, {} without a test split), which is how a models directory's index knows
    it; the index of the directory the run is in rewritten, when it has one."""
    summary.update(score_test_split(run_dir, data_dir, src, tgt, test_beams))
    if directions:
        scored = summary.get("directions") or {}
        summary["directions"] = {d: scored.get(d, {}) for d in directions}
    with open(run_dir / SUMMARY, "w") as f:
        json.dump(summary, f, indent=2)
    if (run_dir.parent / INDEX).is_file():  # `--out models/multi` beside train-pairs' runs
        write_index(run_dir.parent)


def say_on_stderr(message: str) -> None:
    print(message, file=sys.stderr)
