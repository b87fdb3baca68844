"""Back-translation, forward translation (self-training) and ensembling against a plain model
at the same updates of the final model, De->En (or any pair with monolingual text on both
sides), on test_2016_flickr (beam 5, cased sacreBLEU, paired bootstrap against the baseline):

- baseline:  `translator train` on the real pairs, U updates;
- +BT:       a reverse model (R updates) back-translates the target-language captions
             (greedy, int8), then U updates on the real pairs and the tagged (<bt>)
             synthetic ones, one per real pair;
- +FT:       the baseline translates the source-language captions (greedy, int8), then U
             updates on the real pairs and the tagged (<ft>) synthetic ones;
- ensembles: baseline + BT model, and BT + FT models (each twice the decode cost);
- with `--bt-decoding sampling,beam`: +BT arms whose synthetic sources were sampled
  (temperature 1) or decoded with beam 5 instead of greedy, the same reverse model;
- with `--teacher RUN`: a second +FT arm ("ft-teacher") whose synthetic targets come from
  another run's best.pt (a baseline of the same configuration trained with another seed, when
  the baseline arm's own run came out weak), its updates counted in the arm's;
- with `--warm`: every +BT and +FT arm starts from the baseline's best.pt (`translator train
  --init`) instead of from nothing, and the baseline's updates count in each arm's updates in
  all. A model that already reads its source cannot start slowly by chance of the seed (the
  failure that makes cold runs of 1,500 updates differ by up to 18 BLEU), so arms that differ
  only in their synthetic data (`--bt-decoding`) compare at small budgets. The backward
  chain waits for the baseline before its first +BT arm. A workspace is warm or cold for good.
- with `--from-recipe DIR` (warm, backward chain only): the baseline, the reverse model and the
  greedy back-translation are a finished `translator recipe`'s (linked into WORK, nothing of
  them trained or decoded again), and the +BT arms of `--bt-decoding` start from its baseline:
  the decoding comparison at the cost of its arms alone. The models' vocabulary is the
  recipe's (the <bt> tag only: no +FT arm).

Every arm's final model gets U updates; the report gives each arm's updates in all (the BT
arm's reverse model included, the FT arm's baseline included) and the sentences decoded to make
its data, so the gains can be read per update of the final model and per CPU spent. Each step
resumes where it stopped (run the same command again in a later session).

    python benchmarks/backtranslation.py train --updates 3000 --reverse 1500 \\
        --work runs/exp/bt --threads 1
    # or the two independent chains at once, one core each:
    python benchmarks/backtranslation.py train --chain forward ... &
    python benchmarks/backtranslation.py train --chain backward ...
    python benchmarks/backtranslation.py score --work runs/exp/bt --json runs/exp/bt.json
    # the back-translation's decoding, on a finished recipe's models:
    python benchmarks/backtranslation.py train --from-recipe runs/de-en-warm \
        --bt-decoding sampling,beam --updates 1500 --work runs/exp/btd
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def run(*args: str) -> None:
    command = [sys.executable, "-m", "translator", *args]
    print(" ".join(command), flush=True)
    code = subprocess.run(command).returncode
    if code:  # 130: interrupted (last.pt or the finished parts kept): the same command resumes
        sys.exit(f"stopped ({code}); run the same command again to resume")


def train_arm(work: Path, name: str, src: str, tgt: str, updates: int, args, *extra: str
              ) -> None:
    out = work / name
    if (out / "summary.json").is_file():
        return
    resume = ["--resume"] if (out / "last.pt").is_file() else []
    run("train", "--data", args.data, "--src", src, "--tgt", tgt, "--out", str(out),
        "--max-steps", str(updates), "--threads", str(args.threads), "--no-test", "-q",
        "--preset", args.preset, *extra, *resume)


DECODINGS = {"greedy": [], "sampling": ["--temperature", "1"], "beam": ["--beam", "5"]}
"""How the reverse model back-translates (`--bt-decoding`): greedy (the recipe's), unrestricted
sampling at temperature 1 (Edunov et al. 2018), or beam 5."""


def bt_arm(decoding: str) -> str:
    """The +BT arm's directory for a decoding: "bt" (greedy), "bt-sampling", "bt-beam"."""
    return "bt" if decoding == "greedy" else f"bt-{decoding}"


def translate_mono(work: Path, checkpoint: str, mono: Path, out: str, args,
                   *decoding: str) -> None:
    """`checkpoint`: an arm's name (its run under WORK), or another run's directory."""
    if (work / out / "backtranslate.json").is_file():
        return
    run_dir = work / checkpoint if (work / checkpoint).is_dir() else Path(checkpoint)
    run("backtranslate", "--checkpoint", str(run_dir / "best.pt"), "-i", str(mono),
        "--out", str(work / out), "--threads", str(args.threads), "--data", args.data, "-q",
        "--limit", str(args.mono_lines), *decoding)


def mono_path(directory: str, lang: str) -> Path:
    path = Path(directory) / f"train.{lang}.gz"
    return path if path.is_file() else Path(directory) / f"train.{lang}"


def train(args: argparse.Namespace) -> None:
    work, (src, tgt) = Path(args.work), args.pair.split("-")
    work.mkdir(parents=True, exist_ok=True)
    # every model shares one vocabulary with both tags, so that any two can be ensembled
    symbols = ["--extra-ratio", "1"]
    if args.from_recipe:
        _link_recipe(work, Path(args.from_recipe), args)
    init = _warm_start(work, args.warm)
    if args.chain in ("both", "forward"):
        train_arm(work, "baseline", src, tgt, args.updates, args, "--config", _config(work))
    if args.chain in ("both", "backward"):
        train_arm(work, "reverse", tgt, src, args.reverse, args, "--config", _config(work))
        decodings = list(dict.fromkeys(["greedy", *args.bt_decoding.split(",")]))
        if unknown := [d for d in decodings if d not in DECODINGS]:
            sys.exit(f"--bt-decoding: unknown {', '.join(unknown)} (greedy, sampling, beam)")
        for decoding in decodings:
            arm = bt_arm(decoding)
            translate_mono(work, "reverse", mono_path(args.mono, tgt), f"{arm}-data", args,
                           *DECODINGS[decoding])
        for decoding in decodings:
            arm = bt_arm(decoding)
            if init:
                _wait_for_baseline(work)
            train_arm(work, arm, src, tgt, args.updates, args, "--config", _config(work),
                      "--extra", f"{work / f'{arm}-data'}:<bt>", *symbols, *init)
    if args.chain in ("both", "forward"):
        translate_mono(work, "baseline", mono_path(args.mono, src), "ft-data", args)
        train_arm(work, "ft", src, tgt, args.updates, args, "--config", _config(work),
                  "--extra", f"{work / 'ft-data'}:<ft>", *symbols, *init)
        if args.teacher:
            _teacher_arm(work, src, tgt, args, [*symbols, *init])


RECIPE_PARTS = {"baseline": "baseline", "reverse": "reverse", "bt-data": "synthetic"}
"""What a workspace takes from a finished recipe (`--from-recipe`): its name there."""


def _link_recipe(work: Path, recipe: Path, args: argparse.Namespace) -> None:
    """WORK's baseline, reverse model and greedy back-translation as links to a recipe's (the
    same recipe on every later call); the arms warm, the backward chain alone, one tag."""
    recipe = recipe.resolve()
    claim = json.loads((recipe / "recipe.json").read_text()) if (
        recipe / "recipe.json").is_file() else None
    if not claim or claim.get("pair") != args.pair:
        sys.exit(f"--from-recipe {recipe}: not a recipe of {args.pair} (no recipe.json of it)")
    missing = [part for part in ("baseline/summary.json", "reverse/summary.json",
                                 "synthetic/backtranslate.json")
               if not (recipe / part).is_file()]
    if missing:
        sys.exit(f"--from-recipe {recipe}: its stages are not finished ({', '.join(missing)})")
    for name, theirs in RECIPE_PARTS.items():
        link = work / name
        if link.is_symlink() and link.resolve() == recipe / theirs:
            continue
        if link.exists() or link.is_symlink():
            sys.exit(f"{work} has its own {name}: use another --work for a recipe's models")
        link.symlink_to(recipe / theirs, target_is_directory=True)
    args.warm, args.chain = True, "backward"


def _warm_start(work: Path, warm: bool) -> list[str]:
    """`--init` of the +BT and +FT arms (the baseline's best.pt) or nothing; the choice is
    recorded in WORK/warm.json on first use and another one later is refused."""
    claim = work / "warm.json"
    if claim.is_file():
        if json.loads(claim.read_text())["warm"] != warm:
            sys.exit(f"{work} holds {'warm' if not warm else 'cold'}-started arms: use another "
                     f"--work for {'warm' if warm else 'cold'} ones")
    else:
        claim.write_text(json.dumps({"warm": warm}) + "\n")
    return ["--init", str(work / "baseline" / "best.pt")] if warm else []


def _wait_for_baseline(work: Path) -> None:
    """The backward chain's +BT arms start from the baseline, which the forward chain trains."""
    if not (work / "baseline" / "summary.json").is_file():
        print("waiting for the baseline (the forward chain) to finish", flush=True)
    while not (work / "baseline" / "summary.json").is_file():
        time.sleep(30)


def _is_warm(work: Path) -> bool:
    claim = work / "warm.json"
    return claim.is_file() and json.loads(claim.read_text())["warm"]


def _teacher_arm(work: Path, src: str, tgt: str, args, symbols: list[str]) -> None:
    """+FT from `--teacher`'s best.pt: "ft-teacher-data", then the "ft-teacher" arm (the
    teacher recorded in WORK/ft-teacher.json: another teacher later is refused, not mixed)."""
    teacher = Path(args.teacher).resolve()
    if not (teacher / "summary.json").is_file():
        sys.exit(f"--teacher {args.teacher}: not a finished run (no summary.json)")
    claim = work / "ft-teacher.json"
    if claim.is_file() and json.loads(claim.read_text())["teacher"] != str(teacher):
        sys.exit(f"{work} has an ft-teacher arm of {json.loads(claim.read_text())['teacher']}: "
                 f"use another --work for another teacher")
    claim.write_text(json.dumps({"teacher": str(teacher)}) + "\n")
    translate_mono(work, str(teacher), mono_path(args.mono, src), "ft-teacher-data", args)
    train_arm(work, "ft-teacher", src, tgt, args.updates, args, "--config", _config(work),
              "--extra", f"{work / 'ft-teacher-data'}:<ft>", *symbols)


def _config(work: Path) -> str:
    tags = ["<bt>"] if (work / "bt-data").is_symlink() else ["<bt>", "<ft>"]  # a recipe's
    path, text = work / "symbols.yaml", f"vocab: {{symbols: {tags!r}}}\n"
    if not path.is_file() or path.read_text() != text:  # both chains read it: write it whole
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return str(path)


def score(args: argparse.Namespace) -> None:
    from translator.data.corpus import read_split
    from translator.defaults import TEST_SPLIT
    from translator.evaluation.significance import paired_test

    work, (src, tgt) = Path(args.work), args.pair.split("-")
    test = read_split(args.data, TEST_SPLIT, src, tgt)
    best = {name: str(work / name / "best.pt") for name in ("baseline", "bt", "ft")}
    forward = (work / "ft" / "summary.json").is_file()  # none beside a recipe's models
    systems = {"baseline": best["baseline"], "+BT": best["bt"],
               **({"+FT": best["ft"]} if forward else {}),
               "baseline + BT model": f"{best['baseline']}+{best['bt']}",
               **({"BT + FT models": f"{best['bt']}+{best['ft']}"} if forward else {})}
    for item in args.system:  # more systems, e.g. the baseline trained with another seed
        name, _, spec = item.partition("=")
        systems[name] = spec
    for decoding in ("sampling", "beam"):  # the other back-translations, where trained
        if (work / bt_arm(decoding) / "summary.json").is_file():
            systems[f"+BT ({decoding})"] = str(work / bt_arm(decoding) / "best.pt")
    teacher = args.teacher and (work / "ft-teacher" / "summary.json").is_file()
    if teacher:
        systems["+FT (teacher)"] = str(work / "ft-teacher" / "best.pt")
    if args.baseline:  # the paired tests against this system instead of the baseline arm
        systems = {args.baseline: systems.pop(args.baseline), **systems}
    outputs = [_hypotheses(work, name, spec, test.src, args) for name, spec in systems.items()]
    rows = paired_test(outputs, [test.tgt])
    arms = ["baseline", "reverse", "bt", *(["ft"] if forward else []),
            *(bt_arm(d) for d in ("sampling", "beam") if f"+BT ({d})" in systems),
            *(["ft-teacher"] if teacher else [])]
    steps = {name: _steps(work / name) for name in arms}
    start = steps["baseline"] if _is_warm(work) else 0  # the warm arms' first updates
    decoded = {name: _decoded(work / f"{name}-data") for name in arms
               if name not in ("baseline", "reverse")}
    seconds = {name: _seconds(work / f"{name}-data") for name in decoded}
    updates_in_all = {"baseline": steps["baseline"],
                      "+BT": start + steps["reverse"] + steps["bt"],
                      "baseline + BT model": steps["baseline"] + steps["reverse"] + steps["bt"],
                      **({"+FT": steps["baseline"] + steps["ft"],
                          "BT + FT models": sum(steps[a] for a in ("baseline", "reverse", "bt",
                                                                   "ft"))} if forward else {}),
                      **{f"+BT ({d})": start + steps["reverse"] + steps[bt_arm(d)]
                         for d in ("sampling", "beam") if f"+BT ({d})" in systems},
                      **({"+FT (teacher)": _steps(Path(json.loads(
                          (work / "ft-teacher.json").read_text())["teacher"]))
                          + start + steps["ft-teacher"]} if teacher else {}),
                      **{item.partition("=")[0]: None for item in args.system}}
    figures = {"pair": args.pair, "test_set": TEST_SPLIT, "beam": args.beam,
               "warm_start": _is_warm(work),
               "updates": steps, "decoded_for_data": decoded,
               "best_val_bleu": {name: round(json.loads((work / name / "summary.json")
                                                        .read_text())["best_val_bleu"], 2)
                                 for name in arms},
               "decoding_seconds": seconds,
               "rows": [{"system": name, "bleu": round(row["bleu"]["score"], 2),
                         "chrf": round(row["chrf"]["score"], 2),
                         "p_value": row["bleu"]["p_value"],
                         "difference": row["bleu"]["difference"],
                         "updates_in_all": updates_in_all[name]}
                        for name, row in zip(systems, rows)],
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def _hypotheses(work: Path, name: str, spec: str, sources: list[str], args) -> list[str]:
    """The system's test translations, kept in WORK/hyps/ (keyed by its name, checkpoints
    and beam) so that scoring again against another baseline decodes nothing."""
    import hashlib

    from translator.checkpoint_file import spec_members
    from translator.defaults import LENGTH_PENALTY
    from translator.inference.translator import Translator

    stamp = [(m, Path(m).stat().st_mtime_ns) for m in spec_members(spec)]
    key = hashlib.sha256(json.dumps([name, stamp, args.beam, LENGTH_PENALTY]).encode()
                         ).hexdigest()[:16]
    path = work / "hyps" / f"{key}.txt"
    if path.is_file():
        return path.read_text().split("\n")[:-1]
    translator = Translator.from_checkpoint(spec, threads=args.threads, calibrate=False)
    hyps = translator.translate(sources, beam_size=args.beam)
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(h + "\n" for h in hyps))
    print(f"{name}: translated", flush=True)
    return hyps


def _steps(run_dir: Path) -> int:
    return json.loads((run_dir / "summary.json").read_text())["step"]


def _decoded(out: Path) -> int:
    return json.loads((out / "backtranslate.json").read_text())["lines"]


def _seconds(out: Path) -> float:
    """A back-translation's seconds (`translator backtranslate`'s, or a recipe's minutes)."""
    done = json.loads((out / "backtranslate.json").read_text())
    return done["seconds"] if "seconds" in done else round(done["minutes"] * 60, 1)


def main() -> None:
    from translator.defaults import MULTI30K_DIR

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["train", "score"])
    p.add_argument("--work", required=True)
    p.add_argument("--pair", default="de-en")
    p.add_argument("--updates", type=int, default=3000, help="the final models' updates")
    p.add_argument("--reverse", type=int, default=1500, help="the reverse model's updates")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--mono", default="../shared/data/multi30k-task2")
    p.add_argument("--mono-lines", type=int, default=0, help="translate only the first N "
                   "monolingual lines (default: all)")
    p.add_argument("--chain", choices=["both", "forward", "backward"], default="both",
                   help="forward: baseline, FT data, +FT; backward: reverse, BT data, +BT "
                   "(independent: run one of each at once, a thread each, to use two cores)")
    p.add_argument("--bt-decoding", default="greedy",
                   help="how the reverse model back-translates, one +BT arm each: greedy, "
                   "sampling, beam or a list (sampling,beam); greedy is always the first")
    p.add_argument("--teacher", metavar="RUN", help="a finished run whose best.pt "
                   "forward-translates for a second +FT arm (e.g. a baseline with another seed)")
    p.add_argument("--warm", action="store_true", help="train: the +BT and +FT arms start "
                   "from the baseline's best.pt (translator train --init)")
    p.add_argument("--from-recipe", metavar="DIR", help="train: a finished recipe's baseline, "
                   "reverse model and greedy back-translation instead of new ones (warm, "
                   "+BT arms only)")
    p.add_argument("--preset", default="base")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--system", action="append", default=[], metavar="NAME=SPEC",
                   help="score: one more system (a checkpoint, or a+b.pt), e.g. the baseline "
                   "trained with another seed")
    p.add_argument("--baseline", help="score: the system the others are tested against "
                   "(default: the baseline arm)")
    p.add_argument("--json")
    args = p.parse_args()
    {"train": train, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
