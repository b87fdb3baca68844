"""The checkpoints page's data: the leaderboard (per set of references, the latest evaluation of
each checkpoint and search (beam and length penalty) and of each uploaded system, ranked by
BLEU, with sacreBLEU's paired bootstrap against the best or a chosen baseline)
and the training runs whose metrics the page charts.

The web decides who may see which evaluation (`visible`); this module only ranks, and reads
the significance tests the evaluation queue computed (worker/workbench.py queues them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .records import Job
from .workbench import MAX_COMPARED

if TYPE_CHECKING:
    from .intake import Intake
    from .settings import Settings

UPLOADED = "upload"
"""An evaluation's `testset` when its references were uploaded."""


def run_dirs(settings: Settings) -> dict[str, Path]:
    """{run name: directory} of runs with a metrics log, under CHECKPOINT_DIRS."""
    out = {}
    for root in settings.checkpoint_roots():
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if (path / "metrics.jsonl").is_file():
                    out[path.name] = path
    return out


def leaderboard(intake: Intake, visible: Callable[[Job], bool],
                baseline: str | None = None) -> list[dict]:
    """[{"key", "title", "rows", "tests", "baseline"}] per board (evaluations with the same
    references: a named test set of one pair, or an uploaded reference), in title order: the
    latest of the `visible` evaluations of each checkpoint (and search: beam and length
    penalty) and each uploaded
    system, best BLEU first. With more than one row, each row's significance against the
    board's baseline (`baseline` where it is a row of the board, else the best): read from the
    comparison the evaluation queue computed, which is queued when missing ("tests":
    "pending"; "done" or "failed" once it has run)."""
    boards: dict[str, dict[tuple, dict]] = {}
    titles: dict[str, str] = {}
    for ev in filter(visible, intake.store.list_evaluations()):
        key = board_key(ev)
        titles.setdefault(key, board_title(ev))
        row = {**ev.to_dict(), "name": ev.system or ev.model}
        # newest first: keep the latest of each system
        owner = ev.owner if ev.system else None  # a checkpoint's evaluation is one row
        # one row per search too: a checkpoint at another beam or length penalty is another
        # (greedy search has none)
        alpha = ev.alpha if (ev.beam or 0) > 1 else None
        boards.setdefault(key, {}).setdefault((ev.model, ev.system, ev.beam, alpha, owner),
                                              row)
    out = []
    for key, entries in sorted(boards.items(), key=lambda kv: titles[kv[0]]):
        rows = sorted(entries.values(), key=lambda e: -e["scores"]["bleu"])
        board = {"key": key, "title": titles[key], "rows": rows, "tests": None,
                 "baseline": rows[0]["id"]}
        if baseline in {r["id"] for r in rows}:
            board["baseline"] = baseline
        for row in rows:
            row.update(p_values=None, significant=None, difference=None)
        if len(rows) > 1:
            board["tests"] = mark_significance(intake, rows, board["baseline"])
        out.append(board)
    return out


def board_key(job: Job) -> str:
    """Evaluations with the same references share a board: their hash, and on a named test set
    the pair too (de-en, fr-en and cs-en share test_2016_flickr.en but not a board); an older
    record without a hash: its test set and pair."""
    if not job.reference_hash:
        return f"{job.testset}:{job.pair}"
    named = job.testset and job.testset != UPLOADED
    return f"{job.reference_hash}:{job.pair}" if named else job.reference_hash


def board_title(job: Job) -> str:
    if job.testset and job.testset != UPLOADED:
        return f"{job.testset} {job.pair}".strip()
    return f"uploaded reference {(job.reference_hash or '')[:8]}".strip()


def mark_significance(intake: Intake, rows: list[dict], baseline: str) -> str:
    """Set each row's `p_values`, `significant` ({metric: p < ALPHA}) and `difference` (mean
    and 95% interval of row - baseline) from the stored comparison of the rows against the
    baseline; returns the comparison's status ("pending" after queueing it)."""
    from translator.evaluation.metrics import ALPHA, METRICS

    # the best MAX_COMPARED - 1 rows besides the baseline (the rest stay untested)
    others = [r["id"] for r in rows if r["id"] != baseline][:MAX_COMPARED - 1]
    comparison = intake.comparison(baseline, others, detail=False)
    if comparison["status"] != "done":
        return comparison["status"]
    tested = dict(zip(comparison["ids"], comparison["rows"]))
    for row in rows:
        test = tested.get(row["id"])
        if row["id"] == baseline or test is None:
            continue
        row["p_values"] = {k: test[k]["p_value"] for k in METRICS}
        row["significant"] = {k: p < ALPHA for k, p in row["p_values"].items()}
        row["difference"] = {k: test[k]["difference"] for k in METRICS}
    return "done"


def history_points(intake: Intake, visible: Callable[[Job], bool], run: str, testset: str,
                   pair: str | None = None) -> list[tuple[int, float, int]]:
    """[(step, BLEU, beam)] of a run's history: the latest `visible` evaluation of each of its
    periodic checkpoints on `testset` (in the direction `pair`, for a multilingual run), in
    step order."""
    steps, evaluations = _history_evaluations(intake, visible, run, testset)
    latest: dict[str, Job] = {}
    for ev in evaluations:  # newest first
        if pair is None or ev.pair == pair:
            latest.setdefault(ev.model, ev)
    return sorted((steps[name], ev.scores["bleu"], ev.beam or 0) for name, ev in latest.items())


def history_pairs(intake: Intake, visible: Callable[[Job], bool], run: str, testset: str
                  ) -> set[str]:
    """The directions in which a run's periodic checkpoints have `visible` evaluations on
    `testset` (one scan of the store, for the page's list of charts)."""
    return {ev.pair for ev in _history_evaluations(intake, visible, run, testset)[1]}


def _history_evaluations(intake: Intake, visible: Callable[[Job], bool], run: str,
                         testset: str) -> tuple[dict[str, int], list[Job]]:
    """{checkpoint name: step} of the run's periodic checkpoints, and their `visible` finished
    evaluations on `testset`, newest first."""
    from .checks import known_checkpoints
    from .workbench import history_checkpoints

    steps = {name: step for step, name in
             history_checkpoints(known_checkpoints(intake.settings), run)}
    return steps, [ev for ev in filter(visible, intake.store.list_evaluations())
                   if ev.model in steps and ev.testset == testset and not ev.system
                   and ev.scores]
