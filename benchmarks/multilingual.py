"""One multilingual model against the user's real alternatives at the same total updates, in all
twelve directions among en, de, fr and cs on test_2016_flickr (beam 5, cased sacreBLEU):

- multi:    `translator train --langs en,de,fr,cs --max-steps U` (every direction direct);
- pairwise: `translator train-pairs` of the six English-centric directions at U/6 updates each,
            the six others pivoted through English (two decodes, as the workers pivot);
- de-en:    one De->En model given all U updates (the dedicated model).

Each run resumes where it stopped (a long budget spans sessions: run the same command again).
Arms may run side by side, one process each (`--arm multi --threads 1` beside `--arm de-en
--threads 1`): budgets are in updates, so the figures do not depend on the layout, only the
hours do (on 2026-12-08's 2-core Zen 4 machine side by side gave about 1.1x the tokens a
second of one arm at two threads; on a Zen 3 day one arm at two threads was far faster).
Then every direction is scored, with sacreBLEU's paired bootstrap of the multilingual model
against the pairwise one (and against the dedicated De->En model on de-en); each system's test
hypotheses are kept in WORK/hyps/SYSTEM.S-T.txt (for `translator evaluate --hyp`).

    python benchmarks/multilingual.py train --updates 12000 --work runs/exp/multi [--arm multi]
    python benchmarks/multilingual.py score --work runs/exp/multi --json runs/exp/multi.json
    python benchmarks/multilingual.py memory --work runs/exp/multi   # serving cost

`memory` loads, in fresh processes as a worker does (int8), the multilingual model, then the
six pairwise models, and reports each process's resident memory; and the decode speed of the
multilingual model's de-en against the pairwise de-en model and the dedicated one (the same
layer sizes), alternated over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

LANGS = ("en", "de", "fr", "cs")
PAIRWISE = ("de-en", "en-de", "fr-en", "en-fr", "cs-en", "en-cs")
DIRECTIONS = [f"{s}-{t}" for s in LANGS for t in LANGS if s != t]
GOALS = {"de-en": 38, "fr-en": 46, "en-fr": 55, "en-de": 34, "cs-en": 33, "en-cs": 27}
"""The issue's stretch goals at about 12,000 updates."""


def translator_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "translator", *args]


def train(args: argparse.Namespace) -> None:
    work, updates = Path(args.work), args.updates
    common = ["--data", args.data, "--threads", str(args.threads), "-q"]
    arms = {
        "multi": translator_command("train", "--langs", ",".join(LANGS), "--out",
                                    str(work / "multi"), "--max-steps", str(updates), *common),
        "pairwise": translator_command("train-pairs", "--pairs", ",".join(PAIRWISE), "--out",
                                       str(work / "pairwise"), "--max-steps",
                                       str(updates // len(PAIRWISE)), *common),
        "de-en": translator_command("train", "--src", "de", "--tgt", "en", "--out",
                                    str(work / "de-en"), "--max-steps", str(updates), *common),
    }
    for name in args.arm or list(arms):
        command = arms[name]
        if name != "pairwise" and (work / name / "last.pt").exists():
            if (work / name / "summary.json").exists():
                print(f"{name}: finished", flush=True)
                continue
            command = [*command, "--resume"]
        print(f"{name}: {' '.join(command)}", flush=True)
        code = subprocess.run(command).returncode
        if code:  # 130: interrupted (last.pt saved): the same command resumes
            sys.exit(f"{name}: stopped ({code}); run the same command again to resume")


def score(args: argparse.Namespace) -> None:
    from translator.data.corpus import read_split
    from translator.defaults import TEST_SPLIT
    from translator.evaluation.significance import paired_test
    from translator.inference.translator import Translator

    work = Path(args.work)
    multi = Translator.from_checkpoint(work / "multi" / "best.pt", threads=args.threads)
    pairwise = {pair: Translator.from_checkpoint(work / "pairwise" / pair / "best.pt",
                                                 threads=args.threads) for pair in PAIRWISE}
    dedicated = Translator.from_checkpoint(work / "de-en" / "best.pt", threads=args.threads)
    cache: dict[tuple[str, str], list[str]] = {}  # (system, direction): test hypotheses

    def translate(system: str, direction: str, src: list[str]) -> list[str]:
        if (system, direction) not in cache:
            s, t = direction.split("-")
            if system == "multi":
                out = multi.for_pair(s, t).translate(src, beam_size=args.beam)
            elif system == "dedicated":  # the De->En model given the whole budget
                out = dedicated.translate(src, beam_size=args.beam)
            elif direction in pairwise:
                out = pairwise[direction].translate(src, beam_size=args.beam)
            else:  # through English, sentence by sentence as the workers pivot
                english = translate("pairwise", f"{s}-en", src)
                out = pairwise[f"en-{t}"].translate(english, beam_size=args.beam)
            cache[system, direction] = out
            hyps = work / "hyps" / f"{system}.{direction}.txt"  # for `translator evaluate --hyp`
            hyps.parent.mkdir(exist_ok=True)
            hyps.write_text("".join(f"{line}\n" for line in out), encoding="utf-8")
        return cache[system, direction]

    rows = []
    for direction in DIRECTIONS:
        test = read_split(args.data, TEST_SPLIT, *direction.split("-"))
        systems = [translate("pairwise", direction, test.src),
                   translate("multi", direction, test.src)]
        result = paired_test(systems, [test.tgt])
        row = {"direction": direction, "pivoted": direction not in PAIRWISE,
               "pairwise": round(result[0]["bleu"]["score"], 2),
               "multi": round(result[1]["bleu"]["score"], 2),
               "p_value": result[1]["bleu"]["p_value"],
               "difference": result[1]["bleu"]["difference"],
               "goal": GOALS.get(direction)}
        rows.append(row)
        print(f"{direction}: pairwise{' (pivot)' if row['pivoted'] else ''} {row['pairwise']}"
              f"  multi {row['multi']}  p={row['p_value']:.4f}", flush=True)
    test = read_split(args.data, TEST_SPLIT, "de", "en")
    versus = paired_test([translate("dedicated", "de-en", test.src),
                          translate("multi", "de-en", test.src)], [test.tgt])
    figures = {
        "rows": rows, "beam": args.beam, "test_set": TEST_SPLIT,
        "dedicated_de_en": {"bleu": round(versus[0]["bleu"]["score"], 2),
                            "multi": round(versus[1]["bleu"]["score"], 2),
                            "p_value": versus[1]["bleu"]["p_value"],
                            "difference": versus[1]["bleu"]["difference"]},
        "updates": {name: _steps(work / name) for name in ("multi", "de-en")}
        | {f"pairwise/{p}": _steps(work / "pairwise" / p) for p in PAIRWISE},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def _steps(run: Path) -> dict:
    try:
        summary = json.loads((run / "summary.json").read_text())
    except OSError:
        return {}
    return {"steps": summary.get("step"), "minutes": round(summary.get("elapsed_minutes", 0), 1)}


LOAD = """
import json, resource, sys, time
from translator.inference.translator import Translator
models = [Translator.from_checkpoint(p, int8=True, calibrate=False) for p in sys.argv[1:]]
for m in models:
    view = m.for_pair("de", "en") if m.multilingual else m
    view.translate(["Ein Hund läuft."], beam_size=5)
rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
print(json.dumps({"rss_mb": round(rss / 2**20, 1)}))
"""


def memory(args: argparse.Namespace) -> None:
    work = Path(args.work)
    arms = {"nothing": [], "multi": [str(work / "multi" / "best.pt")],
            "pairwise": [str(work / "pairwise" / p / "best.pt") for p in PAIRWISE]}
    rss = {}
    for name, paths in arms.items():
        if not paths:
            code = LOAD.replace("from translator.inference.translator import Translator",
                                "import torch, translator.inference.translator as t; "
                                "Translator = t.Translator")
        else:
            code = LOAD
        out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True,
                             text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        rss[name] = json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"]
        print(f"{name}: {rss[name]} MB resident", flush=True)
    speed = None if args.no_speed else _speed(work, args)
    figures = {"rss_mb": rss, "models_mb": {k: round(v - rss["nothing"], 1)
                                            for k, v in rss.items() if k != "nothing"},
               "decode": speed, "precision": "int8",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def _speed(work: Path, args: argparse.Namespace) -> dict:
    """Sentences per second, de-en test set, int8, beam 5: the multilingual model's de-en
    against the pairwise de-en model and the dedicated one (the same layer sizes; a model
    trained longer writes longer outputs, which take more steps), alternated over `--rounds`;
    the median ratios, and the pieces each writes per sentence."""
    from decode_rates import alternated_rates

    from translator.data.corpus import read_split
    from translator.defaults import TEST_SPLIT
    from translator.inference.translator import Translator

    test = read_split(args.data, TEST_SPLIT, "de", "en")
    arms = {"multi": Translator.from_checkpoint(work / "multi" / "best.pt", int8=True,
                                                threads=args.threads).for_pair("de", "en"),
            "pairwise": Translator.from_checkpoint(work / "pairwise" / "de-en" / "best.pt",
                                                   int8=True, threads=args.threads)}
    if (work / "de-en" / "best.pt").exists():
        arms["dedicated"] = Translator.from_checkpoint(work / "de-en" / "best.pt", int8=True,
                                                       threads=args.threads)
    rates = alternated_rates(arms, test.src, args.beam, args.rounds)
    pieces = {name: sum(map(len, arm.tgt_tok.encode(arm.translate(test.src[:200],
                                                                  beam_size=args.beam)))) / 200
              for name, arm in arms.items()}
    return {"sentences_per_s": rates, "output_pieces_per_sentence": pieces,
            **{f"multi_over_{name}": statistics.median(m / o for m, o in zip(rates["multi"],
                                                                             rates[name]))
               for name in arms if name != "multi"},
            "threads": args.threads, "beam": args.beam}


def main() -> None:
    from translator.defaults import MULTI30K_DIR

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["train", "score", "memory"])
    p.add_argument("--work", required=True)
    p.add_argument("--updates", type=int, default=12000, help="the total budget of each arm")
    p.add_argument("--arm", action="append", choices=["multi", "pairwise", "de-en"])
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-speed", action="store_true", help="memory: resident memory only "
                   "(which depends on the models' sizes alone, so it can be read off models of "
                   "any training; the decode speed depends on output lengths and needs trained "
                   "ones)")
    p.add_argument("--json")
    args = p.parse_args()
    {"train": train, "score": score, "memory": memory}[args.command](args)


if __name__ == "__main__":
    main()
