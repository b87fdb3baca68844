"""How well the per-sentence confidence ranks translations: on a test set (not the validation
set the calibration was fitted on), Pearson and Spearman correlation of the confidence with
sentence-level chrF, and the mean chrF of each confidence decile (lowest and highest first).
The uncalibrated feature (mean token log-probability) and the length-normalised beam score are
shown beside it, as alternatives measured in the same run.

    python benchmarks/confidence.py --checkpoint runs/quick/best.pt [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import sacrebleu

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BEAM_SIZE, LOW_CONFIDENCE, MULTI30K_DIR, TEST_SPLIT
from translator.evaluation.sentences import correlations
from translator.inference.confidence import mean_log_prob


def deciles(scores: list[float], quality: list[float]) -> list[float]:
    order = sorted(range(len(scores)), key=scores.__getitem__)
    size = len(order) / 10
    return [round(sum(quality[i] for i in order[int(k * size): int((k + 1) * size)])
                  / max(1, int((k + 1) * size) - int(k * size)), 2) for k in range(10)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--split", default=TEST_SPLIT)
    p.add_argument("--beam", type=int, default=BEAM_SIZE)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    t = Translator.from_checkpoint(args.checkpoint, threads=2)
    if t.calibration is None:
        raise SystemExit("the checkpoint has no calibration: run `translator calibrate` first")
    test = read_split(args.data, args.split, t.src_lang, t.tgt_lang)
    n_best = t.translate_hypotheses(test.src, beam_size=args.beam)
    texts = [hyps[0][0] for hyps in n_best]
    hyps = [hyps[0][1] for hyps in n_best]
    chrf = [sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(texts, test.tgt)]
    features = {
        "confidence (calibrated)": [t.confidence(h) for h in hyps],
        "mean token log-prob": [mean_log_prob(h.log_prob, len(h.tokens)) for h in hyps],
        "beam score (GNMT-normalised)": [h.score for h in hyps],
    }
    results = {"checkpoint": args.checkpoint, "split": args.split, "sentences": len(texts),
               "calibration": t.calibration.to_dict(), "features": {}}
    for name, values in features.items():
        pearson, spearman = correlations(values, chrf)
        d = deciles(values, chrf)
        results["features"][name] = {"pearson": round(pearson, 4),
                                     "spearman": round(spearman, 4),
                                     "chrf_lowest_decile": d[0], "chrf_highest_decile": d[-1],
                                     "chrf_by_decile": d}
    conf = features["confidence (calibrated)"]
    low = [c < LOW_CONFIDENCE for c in conf]
    results["low_confidence"] = {
        "threshold": LOW_CONFIDENCE, "share_flagged": round(sum(low) / len(low), 4),
        "mean_chrf_flagged": round(sum(q for q, f in zip(chrf, low) if f) / max(1, sum(low)), 2),
        "mean_chrf_other": round(sum(q for q, f in zip(chrf, low) if not f)
                                 / max(1, len(low) - sum(low)), 2),
        "confidence_deciles": [round(sorted(conf)[int(k * len(conf) / 10)], 3)
                               for k in range(10)]}
    ood = ["Hallo", "Danke schön!", "Wie spät ist es?", "Ein Mann fährt Fahrrad."]
    results["examples"] = [[s, r.text, r.confidence] for s, r in zip(ood, t.translate_scored(ood))]
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
