"""Language detection (translator/inference/detection.py, Lingua) on Multi30K: the 1,000
test_2016_flickr sentences of each of en, de, fr, cs, whole and cut to their first three
words; accuracy per language, time per detection, the detector's load time and memory, for
each mode (each in a fresh process, so the memory is the detector's own).

    python benchmarks/detection.py [--modes low,high] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

LANGS = ("en", "de", "fr", "cs")


def measure(mode: str, data_dir: str) -> dict:
    from translator.data.corpus import find_split_file, read_lines
    from translator.inference.detection import Detector

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    detector = Detector(mode)
    started = time.perf_counter()
    detector.load()
    out = {"mode": mode, "load_s": round(time.perf_counter() - started, 2),
           "rss_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)}
    timed, n = 0.0, 0
    for lang in LANGS:
        lines = read_lines(find_split_file(data_dir, "test_2016_flickr", lang))
        for name, texts in (("whole", lines), ("three_words",
                                               [" ".join(t.split()[:3]) for t in lines])):
            started = time.perf_counter()
            guesses = [detector.detect(t, best=1) for t in texts]
            timed += time.perf_counter() - started
            n += len(texts)
            right = sum(1 for g in guesses if g and g[0].language == lang)
            out[f"{lang}_{name}"] = round(100 * right / len(texts), 1)
    out["ms_per_detection"] = round(1000 * timed / n, 3)
    for name in ("whole", "three_words"):
        out[f"mean_{name}"] = round(sum(out[f"{lang}_{name}"] for lang in LANGS) / len(LANGS), 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", "../shared/data/multi30k"))
    p.add_argument("--modes", default="low,high")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one mode, print JSON
    p.add_argument("--json")
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data)))
        return
    rows = []
    for mode in args.modes.split(","):
        done = subprocess.run([sys.executable, __file__, "--one", mode, "--data", args.data],
                              check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                      f, indent=2)


if __name__ == "__main__":
    main()
