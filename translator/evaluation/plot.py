"""PNG plots of a run: training loss and validation BLEU over steps (from the JSON-lines metrics
log), and the run's history, its periodic checkpoints' test BLEU beside the validation curve."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: write files only
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(path: str | Path) -> list[dict]:
    records = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            records.append(json.loads(line))
    return records


def plot_metrics(metrics_path: str | Path, out_path: str | Path) -> Path:
    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("type") == "train"]
    valid = [r for r in records if r.get("type") == "valid"]
    fig, (ax_loss, ax_bleu) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label="train", lw=1)
    ax_loss.plot([r["step"] for r in valid], [r["loss"] for r in valid], "o-", label="validation")
    ax_loss.set(xlabel="step", ylabel="loss per target token", title="Loss")
    ax_loss.legend()
    directions = list(dict.fromkeys(d for r in valid for d in r.get("directions", {})))
    for i, direction in enumerate(directions):  # a multilingual run's, thin, under the mean
        points = [(r["step"], r["directions"][direction]) for r in valid
                  if direction in r.get("directions", {})]
        ax_bleu.plot(*zip(*points), "-", lw=1, alpha=0.8, label=direction,
                     color=plt.get_cmap("tab20")(i % 20))
    ax_bleu.plot([r["step"] for r in valid], [r["bleu"] for r in valid], "o-", color="black"
                 if directions else "C2", lw=2, label="mean" if directions else None)
    ax_bleu.set(xlabel="step", ylabel="BLEU", title="Validation BLEU (greedy)"
                + (", per direction" if directions else ""))
    if directions:
        ax_bleu.legend(fontsize="small", ncol=2)
    for ax in (ax_loss, ax_bleu):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)


def plot_history(metrics_path: str | Path, points: list[tuple[int, float]], label: str,
                 out_path: str | Path, direction: str | None = None) -> Path:
    """Test BLEU of the periodic checkpoints (`points`: (step, BLEU)) over updates, beside the
    validation BLEU the run logged (none when the log is missing); a multilingual run's
    `direction`: that direction's test and validation BLEU."""
    valid = []
    if Path(metrics_path).is_file():
        valid = [r for r in read_metrics(metrics_path) if r.get("type") == "valid"]
    if direction:
        valid = [{"step": r["step"], "bleu": r["directions"][direction]} for r in valid
                 if direction in (r.get("directions") or {})]
    fig, ax = plt.subplots(figsize=(7, 4))
    if valid:
        ax.plot([r["step"] for r in valid], [r["bleu"] for r in valid], "o-", color="C2",
                label="validation (greedy, during training)")
    ax.plot([s for s, _ in points], [b for _, b in points], "s-", color="C1", label=label)
    ax.set(xlabel="update", ylabel="BLEU",
           title=f"The run's history, {direction}" if direction else "The run's history")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)
