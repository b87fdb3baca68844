"""The checkpoints page's data: the leaderboard (per named test set, the latest evaluation of
each checkpoint and beam, ranked by BLEU, with sacreBLEU's paired bootstrap against the best)
and the training runs whose metrics the page charts.

The web decides who may see which evaluation (`visible`); this module only ranks and tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .records import Job

if TYPE_CHECKING:
    from .settings import Settings
    from .store import JobStore

UPLOADED = "upload"
"""The board of evaluations against uploaded files (no named test set): ranked, not tested."""

BOOTSTRAP_SAMPLES = 1000


def run_dirs(settings: Settings) -> dict[str, Path]:
    """{run name: directory} of runs with a metrics log, under CHECKPOINT_DIRS."""
    out = {}
    for root in settings.checkpoint_roots():
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if (path / "metrics.jsonl").is_file():
                    out[path.name] = path
    return out


def leaderboard(jobs: JobStore, visible: Callable[[Job], bool]) -> list[dict]:
    """[{"testset", "rows"}] per test set, in name order: the latest of the `visible`
    evaluations of each checkpoint (and beam), best BLEU first; on a named test set with more
    than one row, each row's significance against the best (`mark_significance`)."""
    boards: dict[str, dict[tuple, dict]] = {}
    for ev in filter(visible, jobs.list_evaluations()):
        board = boards.setdefault(ev.testset or UPLOADED, {})
        board.setdefault((ev.model, ev.beam), ev.to_dict())  # newest first: keep the latest
    out = []
    for testset, entries in sorted(boards.items()):
        rows = sorted(entries.values(), key=lambda e: -e["scores"]["bleu"])
        if testset != UPLOADED and len(rows) > 1:
            mark_significance(jobs, rows)
        out.append({"testset": testset, "rows": rows})
    return out


def mark_significance(jobs: JobStore, rows: list[dict]) -> None:
    """Set each row's `p_values` (sacreBLEU's paired bootstrap against the first row, the
    best; cached in Redis for exactly these evaluations) and `significant` ({metric: p <
    ALPHA}); both None when the evaluations cannot be compared (a result gone, or different
    references)."""
    from translator.evaluation.metrics import ALPHA, paired_bootstrap

    ids = [r["id"] for r in rows]
    tests = jobs.cached_tests(ids)
    if tests is None:
        results = [jobs.get_result(i) for i in ids]
        if all(results) and len({len(r["references"]) for r in results}) == 1:
            tests = paired_bootstrap([r["hypotheses"] for r in results],
                                     results[0]["references"], samples=BOOTSTRAP_SAMPLES)
            jobs.cache_tests(ids, tests)
        else:
            tests = [{"p_values": None}] * len(rows)
    for row, test in zip(rows, tests):
        row["p_values"] = test["p_values"]
        row["significant"] = ({k: p < ALPHA for k, p in test["p_values"].items()}
                              if test["p_values"] else None)
