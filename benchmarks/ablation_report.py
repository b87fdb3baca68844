"""Summarise ablation runs: final validation BLEU, loss, steps and tokens/s per run directory."""

import json
import sys
from pathlib import Path


def summarise(run_dir: Path) -> dict | None:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    valid = [r for r in records if r["type"] == "valid"]
    train = [r for r in records if r["type"] == "train" and r["step"] > 1]
    if not valid:
        return None
    speeds = [r["tokens_per_s"] for r in train[len(train) // 5:]] or [0]
    return {"run": run_dir.name, "val_bleu": valid[-1]["bleu"], "best_bleu": valid[-1]["best_bleu"],
            "val_loss": valid[-1]["loss"], "steps": valid[-1]["step"],
            "minutes": valid[-1]["elapsed"] / 60, "tokens_per_s": sum(speeds) / len(speeds)}


def main(root: str) -> None:
    rows = [r for d in sorted(Path(root).iterdir()) if d.is_dir() and (r := summarise(d))]
    print(f"{'run':<16}{'val BLEU':>9}{'val loss':>9}{'steps':>7}{'min':>6}{'tok/s':>8}")
    for r in rows:
        print(f"{r['run']:<16}{r['val_bleu']:>9.2f}{r['val_loss']:>9.3f}{r['steps']:>7}"
              f"{r['minutes']:>6.1f}{r['tokens_per_s']:>8.0f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/ablation")
