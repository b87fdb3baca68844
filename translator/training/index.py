"""A models directory and its index: what `translator train-pairs` writes and the worker
reads (MODELS=models/) to know which pairs it serves and their test scores. No torch.

    models/de-en/best.pt  models/de-en/summary.json  ...
    models/index.json     {"models": [{"pair": "de-en", "checkpoint": "de-en/best.pt",
                                       "test": {...}, "date": ...}, ...]}

A recipe's directory (`translator recipe`, or `train-pairs --mono`) is a pair's entry too, its
checkpoint the final system the recipe chose (one model, or an ensemble `a.pt+b.pt`).
A multilingual run in the directory (`translator train --langs ... --out models/multi`) is one
entry with its `directions` instead of a `pair` and its test scores per direction; reading the
index gives each of its directions an entry of its own ("multilingual": true), which a model
of that pair in the same directory outranks.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from translator.checkpoint_file import CheckpointError, join_spec, spec_members
from translator.defaults import TEST_SPLIT
from translator.errors import UserError
from translator.languages import valid_pair

INDEX = "index.json"
"""The models directory's index file."""

SUMMARY = "summary.json"
"""A finished run's summary (train.py's stop reason and figures, the test scores)."""


def run_state(run_dir: Path) -> str:
    """"finished" (summary.json and its checkpoints), "interrupted" (last.pt only) or
    "new"."""
    if (run_dir / SUMMARY).is_file() and all(
            Path(m).is_file() for m in members_in(run_dir, run_checkpoint(run_dir))):
        return "finished"
    return "interrupted" if (run_dir / "last.pt").is_file() else "new"


def run_checkpoint(run_dir: Path) -> str:
    """The model spec a finished run serves, relative to its directory: "best.pt" for a
    training run; a recipe (translator/training/recipe.py) names its final system in its
    summary.json's `checkpoint` ("backtranslated/best.pt+baseline/best.pt")."""
    try:
        with open(run_dir / SUMMARY) as f:
            spec = json.load(f).get("checkpoint") or "best.pt"
        if not isinstance(spec, str):
            return "best.pt"
        spec_members(spec)
    except (OSError, ValueError, AttributeError, TypeError, CheckpointError):
        return "best.pt"
    return spec


def members_in(directory: Path, spec: str) -> list[str]:
    """The checkpoint paths of `spec` relative to `directory`: one file whose name holds a `+`
    (a run named `de+fr`) is one member; otherwise `a.pt+b.pt` is an ensemble's two."""
    if (directory / spec).is_file():
        return [str(directory / spec)]
    return [str(directory / m) for m in spec_members(spec)]


def _under(directory: Path, spec: str) -> str:
    """`spec`'s members joined to `directory` ("de-en" + "a.pt+b.pt": "de-en/a.pt+de-en/b.pt")."""
    return join_spec([str(directory / m) for m in spec_members(spec)])


def write_index(out: Path) -> dict:
    """models/index.json from the finished runs found under `out` (atomically replaced)."""
    models = []
    for run_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        if run_state(run_dir) != "finished":
            continue
        with open(run_dir / SUMMARY) as f:
            summary = json.load(f)
        directions = summary.get("directions")
        if not directions and not valid_pair(run_dir.name):
            continue  # neither a pair's run nor a multilingual one
        names = ({"directions": list(directions)} if directions else {"pair": run_dir.name})
        models.append({
            **names,
            "checkpoint": _under(Path(run_dir.name), run_checkpoint(run_dir)),
            "test": ({d: summary_scores(s) for d, s in directions.items()} if directions
                     else summary_scores(summary)),
            "test_set": TEST_SPLIT,
            "steps": summary.get("step"),
            "minutes": round(summary.get("elapsed_minutes", 0.0), 1),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                  time.gmtime((run_dir / SUMMARY).stat().st_mtime)),
        })
    index = {"models": models}
    tmp = out / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=2) + "\n")
    os.replace(tmp, out / INDEX)
    return index


def summary_scores(summary: dict) -> dict:
    """A run summary's test scores without the split's prefix: {"bleu_beam5": 15.6, ...}."""
    return {k[len(TEST_SPLIT) + 1:]: v for k, v in summary.items()
            if k.startswith(TEST_SPLIT + "_")}


def read_index(directory: str | Path) -> dict[str, dict]:
    """{pair: entry} of a models directory's index, the checkpoint made an absolute path."""
    directory = Path(directory)
    try:
        with open(directory / INDEX) as f:
            index = json.load(f)
        out: dict[str, dict] = {}
        for e in sorted(index["models"], key=lambda e: "directions" not in e):
            path = join_spec([str(Path(m).resolve())
                              for m in members_in(directory, e["checkpoint"])])
            for pair in e.get("directions") or []:  # first: a pair's own model outranks them
                out[pair] = {**e, "pair": pair, "checkpoint": path, "multilingual": True,
                             "test": e["test"].get(pair, {})}
            if valid_pair(str(e.get("pair", ""))):
                out[e["pair"]] = {**e, "checkpoint": path}
        return out
    except (OSError, ValueError, KeyError, TypeError, CheckpointError) as exc:
        raise UserError(f"{directory / INDEX} is not a models index "
                        f"(translator train-pairs writes one): {exc}") from None
