"""Casing and carry-through, both arms of each figure in one run with the same model
(in-process `Translator`, beam 5; the pipeline is the one every path uses).

Casing: test_2016_flickr's source as it is, upper-cased, lower-cased and with its first half in
capitals ("mixed": the first half of the words, at least two), each translated with no case
handling, with the first letter capitalised only (a checkpoint without a casing table), with
the truecasing table applied to whole segments only (in capitals or in lower case: the pipeline
before runs of capitals inside a sentence were handled) and with the truecasing table;
case-insensitive sacreBLEU against the references, and the share of ALL-CAPS inputs whose
output is ALL-CAPS.

Carry-through: benchmarks/data/carry_through.tsv (German sentence, English reference, the items
that must come through) translated with protection off, on (URLs and e-mails masked by <unk>,
the default) and on without masks: the share of items of each kind found unchanged in the
output, BLEU on its references, and test_2016_flickr BLEU for the same arms.

Speed: test_2016_flickr translated with the pipeline on and off (`recase` and `protect`),
alternating for `--rounds` rounds, sentences per second and their ratio.

    python benchmarks/robust_input.py --checkpoint runs/quick/best.pt [--json F]
        [--parts casing,carry,speed] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import sacrebleu

import translator.inference.pipeline as pipeline
import translator.inference.protect as protect
from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import MULTI30K_DIR, TEST_SPLIT

CARRY_SET = Path(__file__).parent / "data" / "carry_through.tsv"


def bleu(hyps: list[str], refs: list[str], lowercase: bool = False) -> float:
    return round(sacrebleu.corpus_bleu(hyps, [refs], lowercase=lowercase).score, 2)


def upper_half(line: str) -> str:
    """The first half of the line's words (at least two) in capitals, the rest as written:
    "DREI KINDER SPIELEN auf der Wiese"."""
    words = line.split(" ")
    k = max(2, (len(words) + 1) // 2)
    return " ".join([w.upper() for w in words[:k]] + words[k:])


def casing(t: Translator, src: list[str], refs: list[str]) -> dict:
    variants = {"original": src, "upper": [s.upper() for s in src],
                "lower": [s.lower() for s in src], "mixed": [upper_half(s) for s in src]}
    table, rows, runs = t.casing, {}, pipeline.truecase_runs
    for method in ("none", "first letter", "table, whole segments only", "truecase table"):
        t.recase, t.casing = method != "none", table if "table" in method else None
        # the table applied to segments in capitals or lower case only, as before runs of
        # capitals inside a sentence were truecased too (the same model, this run)
        pipeline.truecase_runs = runs if method == "truecase table" else (
            lambda text, table, first=True: text)
        row = {}
        for name, lines in variants.items():
            hyps = t.translate(lines)
            row[name] = bleu(hyps, refs, lowercase=True)
            if name == "upper":
                row["upper_out_all_caps"] = round(
                    sum(h == h.upper() for h in hyps) / len(hyps), 4)
        row["upper_ratio"] = round(row["upper"] / row["original"], 4)
        row["lower_ratio"] = round(row["lower"] / row["original"], 4)
        row["mixed_ratio"] = round(row["mixed"] / row["original"], 4)
        rows[method] = row
    t.recase, t.casing, pipeline.truecase_runs = True, table, runs
    return rows


def present(item: str, text: str) -> int:
    left = r"(?<!\w)" if item[:1].isalnum() else ""
    right = r"(?!\w)" if item[-1:].isalnum() else ""
    return len(re.findall(left + re.escape(item) + right, text))


def carry(t: Translator, test_src: list[str], test_refs: list[str]) -> dict:
    rows = [line.split("\t") for line in CARRY_SET.read_text().splitlines() if line.strip()]
    src, refs = [r[0] for r in rows], [r[1] for r in rows]
    items = [[tuple(i.split(":", 1)) for i in r[2].split(" | ")] for r in rows]
    arms = {"off": (False, protect.MASKED), "on (urls, e-mails masked)": (True, protect.MASKED),
            "on (nothing masked)": (True, frozenset())}
    default_mask, out = protect.MASKED, {}
    for name, (on, masked) in arms.items():
        t.protect, protect.MASKED = on, masked
        started = time.perf_counter()
        hyps = t.translate(src)
        seconds = time.perf_counter() - started
        kept, total = Counter(), Counter()
        for line_items, hyp in zip(items, hyps):
            need = Counter(line_items)
            for (kind, text), n in need.items():
                total[kind] += n
                kept[kind] += min(n, present(text, hyp))
        out[name] = {"kept": {k: f"{kept[k]}/{total[k]} ({100 * kept[k] / total[k]:.1f}%)"
                              for k in sorted(total)},
                     "carry_bleu": bleu(hyps, refs), "carry_seconds": round(seconds, 2),
                     f"{TEST_SPLIT}_bleu": bleu(t.translate(test_src), test_refs)}
        if name == "on (urls, e-mails masked)":
            out["examples"] = [[s, h] for s, h in list(zip(src, hyps))[:: len(src) // 8]]
    t.protect, protect.MASKED = True, default_mask
    out["sentences"] = len(src)
    return out


def speed(t: Translator, src: list[str], rounds: int) -> dict:
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for arm in ("off", "on"):
            t.protect = t.recase = arm == "on"
            started = time.perf_counter()
            t.translate(src)
            seconds[arm].append(time.perf_counter() - started)
    t.protect = t.recase = True
    best = {arm: min(times) for arm, times in seconds.items()}
    return {"sentences": len(src), "rounds": rounds,
            "seconds": {arm: [round(x, 2) for x in times] for arm, times in seconds.items()},
            "sentences_per_second": {arm: round(len(src) / x, 1) for arm, x in best.items()},
            "on_over_off_speed": round(best["off"] / best["on"], 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--parts", default="casing,carry,speed")
    p.add_argument("--rounds", type=int, default=3, help="speed rounds per arm")
    args = p.parse_args()
    parts = set(args.parts.split(","))
    t = Translator.from_checkpoint(args.checkpoint, threads=2)
    if t.casing is None:
        raise SystemExit("the checkpoint has no casing table: run `translator calibrate` first")
    test = read_split(args.data, TEST_SPLIT, t.src_lang, t.tgt_lang)
    results = {}
    if "casing" in parts:
        results["casing"] = casing(t, test.src, test.tgt)
    if "carry" in parts:
        results["carry"] = carry(t, test.src, test.tgt)
    if "speed" in parts:
        results["speed"] = speed(t, test.src, args.rounds)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
