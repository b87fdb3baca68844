"""The best model for a pair in one command (`translator recipe`): a plain baseline, the reverse
model, back-translation of in-domain monolingual text of the target language, a model trained on
the real and the tagged synthetic pairs (starting from the baseline's weights, `warm_start`,
unless told otherwise), the final system chosen on the validation set (that model alone, or
ensembled with the baseline), then the test scores with sacreBLEU's paired bootstrap against
the baseline and a short report.

Given a model of the other direction (`reverse`: the other pair's recipe baseline, a served
model), the recipe back-translates with it instead of training one: its updates are not spent
again, and the baseline and the back-translated model share the budget (`stage_updates`:
37.5% / 62.5%).

Each stage writes its own directory under the output and is skipped once finished, so an
interrupted recipe resumes stage by stage (a training stage from its last.pt). Budgets are in
updates (`updates` for all training stages together, split by `SHARES`), so a recipe means the
same on a slower day; the report gives each stage's updates, decoded sentences and minutes
(wall minutes summed over the sessions a stage ran in, and the trainer's own: its training
and validation).
Validation and test lines never become training data: back-translation refuses monolingual text
holding any of them (translator/inference/backtranslate.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from translator.checkpoint_file import join_spec, spec_members
from translator.config import Config
from translator.data.corpus import CorpusError, read_split
from translator.data.held_out import evaluation_lines, refuse_evaluation_lines
from translator.defaults import BEAM_SIZE, TEST_SPLIT
from translator.errors import UserError
from translator.training.state import RESUME_OPTIONS

SHARES = {"baseline": 0.3, "reverse": 0.2, "backtranslated": 0.5}
"""Each training stage's share of the recipe's updates."""


def stage_updates(updates: int, reverse_given: bool) -> dict[str, int]:
    """Each training stage's updates: its share of `updates` (with a reverse model given, no
    reverse stage, the others in the same proportion: baseline 37.5%, the back-translated
    model 62.5%), the last stage taking what rounding left, so that they sum to `updates`."""
    trained = {k: v for k, v in SHARES.items() if not (reverse_given and k == "reverse")}
    total = sum(trained.values())
    names = list(trained)
    out = {k: max(1, round(updates * trained[k] / total)) for k in names[:-1]}
    out[names[-1]] = max(1, updates - sum(out.values()))
    return out

TAG = "<bt>"
REPORT = "report.json"
WARM_START = True
"""Whether a new recipe's back-translated model starts from the baseline's weights (then
trained on the real and synthetic pairs with a new schedule) rather than from nothing. On
since measured at the full budget (benchmarks/RESULTS.md, "The warm-started recipe, run
whole"): De->En test 42.51, +2.55 over its own baseline, against the cold recipe's 42.20
(+1.61), both at 12,000 updates in all; `--no-warm-start` gives the cold recipe."""


@dataclass
class Recipe:
    """One pair's recipe in `out`: its stages run in turn (`run`), each skipped once finished,
    so that a rerun of the same command resumes; `recipe.json` claims the directory for these
    settings."""

    cfg: Config
    data: Path
    mono: Path
    src: str
    tgt: str
    out: Path
    updates: int
    extra_ratio: float = 1.0
    mono_lines: int = 0  # 0: all
    beam: int = BEAM_SIZE
    cache_dir: Path | None = None
    progress: bool = True
    echo: Callable[[str], None] = print
    reverse: str | None = None  # a tgt->src checkpoint spec to back-translate with
    # the back-translated model starts from the baseline's weights (None: the claimed
    # recipe's choice when it resumes one, else WARM_START)
    warm_start: bool | None = None

    def run(self) -> dict:
        """Every stage, then the choice of the final system, its test scores and the report
        (report.json, report.md); the report's dict."""
        if self.updates < 3:
            raise UserError("a recipe needs at least 3 updates")
        if self.reverse and not (self.out / "synthetic" / "backtranslate.json").is_file():
            self._reverse_translator()  # a wrong direction refused before any stage runs
        self.out.mkdir(parents=True, exist_ok=True)
        self._claim()
        # every model's vocabulary has the tag, so that the baseline and the back-translated
        # model share one and can decode as an ensemble
        self.cfg = self.cfg.override("vocab", symbols=list(dict.fromkeys([*self.cfg.vocab.symbols,
                                                                         TAG])))
        stages = [self.train("baseline", self.src, self.tgt, self.cfg),
                  self.reused_reverse() if self.reverse
                  else self.train("reverse", self.tgt, self.src, self.cfg),
                  self.backtranslate(),
                  self.train("backtranslated", self.src, self.tgt, self._with_synthetic(),
                             init_from=(self.out / "baseline" / "best.pt"
                                        if self.warm_start else None))]
        final, stages_final = self.choose()
        report = {"pair": f"{self.src}-{self.tgt}", "updates": self.updates,
                  "stages": [*stages, stages_final], "final": final, **self.score(final)}
        (self.out / REPORT).write_text(json.dumps(report, indent=2) + "\n")
        (self.out / "report.md").write_text(markdown(report))
        self._write_summary(report)
        return report

    def _write_summary(self, report: dict) -> None:
        """summary.json naming the final system (its checkpoints relative to `out`) with its
        test score, so the recipe's directory is a run of a models directory
        (translator/training/index.py): MODELS=models/ serves it, `train-pairs` skips it;
        the index of the directory it is in rewritten, when it has one."""
        from translator.training.index import INDEX, SUMMARY, write_index

        stages = report["stages"]
        summary = {"checkpoint": join_spec([f"{name}/best.pt"
                                            for name in report["final"]["system"].split("+")]),
                   "recipe": REPORT, "stop_reason": "recipe",
                   "step": sum(s["updates"] for s in stages),
                   "elapsed_minutes": sum(s["minutes"] or 0 for s in stages),
                   f"{TEST_SPLIT}_bleu_{'greedy' if self.beam == 1 else f'beam{self.beam}'}":
                       report["final_bleu"],
                   "bleu_signature": report["signature"]}
        (self.out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        if (self.out.parent / INDEX).is_file():
            write_index(self.out.parent)

    def _claim(self) -> None:
        """Record this recipe's settings in out/recipe.json; a rerun with other settings is
        refused (its finished stages would otherwise be reused as if they were new)."""
        settings = {"pair": f"{self.src}-{self.tgt}", "data": str(self.data.resolve()),
                    "mono": str(self.mono.resolve()), "updates": self.updates,
                    "extra_ratio": self.extra_ratio, "mono_lines": self.mono_lines,
                    "beam": self.beam, "config": _claimed_config(self.cfg.to_dict())}
        if self.reverse:  # (absent otherwise: recipes claimed before it existed still resume)
            settings["reverse"] = [str(Path(m).resolve()) for m in spec_members(self.reverse)]
        path = self.out / "recipe.json"
        previous = json.loads(path.read_text()) if path.is_file() else None
        if self.warm_start is None:  # a resumed recipe keeps its own (none before it existed)
            self.warm_start = previous.get("warm_start", False) if previous else WARM_START
        settings["warm_start"] = self.warm_start
        if previous:
            previous.setdefault("warm_start", False)
            previous["config"] = _claimed_config(_with_new_defaults(previous.get("config")))
            if previous != settings:
                changed = sorted(k for k in {**previous, **settings}
                                 if previous.get(k) != settings.get(k))
                raise UserError(f"{self.out} holds a recipe with other settings "
                                f"({', '.join(changed)}): give the settings it began with "
                                f"(its recipe.json), or use another --out")
        else:
            path.write_text(json.dumps(settings, indent=2) + "\n")

    # ----------------------------------------------------------------------- stages
    def train(self, name: str, src: str, tgt: str, cfg: Config,
              init_from: Path | None = None) -> dict:
        """Train stage `name` (its share of the updates) unless it has finished, resuming an
        interrupted one; an interruption is raised again as KeyboardInterrupt. Its report
        row, the wall minutes summed over the sessions it ran in."""
        from translator.training.index import run_state
        from translator.training.pairs import train_run

        run = self.out / name
        steps = stage_updates(self.updates, bool(self.reverse))[name]
        state = run_state(run)
        if state != "finished":
            self.echo(f"recipe: {name} ({src}->{tgt}, {steps} updates)")
            start = time.perf_counter()
            summary = train_run(cfg.override("train", max_steps=steps, max_minutes=0), self.data,
                                src, tgt, run, resume=state == "interrupted",
                                progress=self.progress, test_beams=(),
                                echo=self.echo, cache_dir=self.cache_dir,
                                init_from=init_from)
            # wall minutes, summed over the sessions a resumed stage ran in
            minutes = (_marked(run).get("minutes") or 0) + (time.perf_counter() - start) / 60
            _mark(run, {"minutes": round(minutes, 2)})
            if summary.get("stop_reason") == "interrupted":
                raise KeyboardInterrupt
        summary = json.loads((run / "summary.json").read_text())
        training = summary.get("elapsed_minutes")
        return {"stage": name, "pair": f"{src}-{tgt}", "updates": summary["step"],
                "decoded": 0, "minutes": _marked(run).get("minutes"),
                "training_minutes": round(training, 2) if training is not None else None,
                "best_val_bleu": summary.get("best_val_bleu"),
                **({"init": init_from.parent.name} if init_from else {})}

    def reused_reverse(self) -> dict:
        """The reverse stage of a recipe given a reverse model: nothing trained here; the
        updates it was trained with elsewhere reported beside (read once, kept in
        reverse-reused.json, so that a resumed recipe needs the model no more)."""
        marker = self.out / "reverse-reused.json"
        if not marker.is_file():
            trained = sum(_trained_updates(m) for m in spec_members(self.reverse))
            marker.write_text(json.dumps({"reused": self.reverse, "reused_updates": trained})
                              + "\n")
        return {"stage": "reverse", "pair": f"{self.tgt}-{self.src}", "updates": 0,
                "decoded": 0, "minutes": 0, **json.loads(marker.read_text())}

    def _reverse_translator(self):
        """The tgt->src model that back-translates (int8 on a CPU): the one given, or the
        reverse stage's; UserError for a model of another direction."""
        spec = self._reverse_spec()
        loaded = _translator(spec, self.cfg, fastest=True)
        try:
            return loaded.for_options(self.tgt, self.src)
        except UserError as exc:
            raise UserError(f"the reverse model must translate {self.tgt}->{self.src}: "
                            f"{exc}") from None

    def backtranslate(self) -> dict:
        """The synthetic stage: the target language's monolingual text translated into the
        source language by the reverse model, in resumable parts (never a line of the
        evaluation sets); its report row."""
        from translator.inference import backtranslate as bt

        out = self.out / "synthetic"
        done = out / "backtranslate.json"
        if not done.is_file():
            mono = mono_file(self.mono, self.tgt)
            lines = bt.read_mono(mono, self.mono_lines)
            refuse_evaluation_lines(lines, evaluation_lines(self.data, (self.src, self.tgt)),
                                    mono)
            self.echo(f"recipe: back-translating {len(lines)} lines of {mono}")
            translator = self._reverse_translator()
            start = time.perf_counter()
            summary = bt.backtranslate(
                lambda part: translator.translate(part, beam_size=1), lines, out, self.tgt,
                self.src, identity=self.synthetic_identity())
            summary["minutes"] = round((time.perf_counter() - start) / 60, 2)
            done.write_text(json.dumps(summary, indent=2) + "\n")
        summary = json.loads(done.read_text())
        return {"stage": "synthetic", "pair": f"{self.tgt}-{self.src}", "updates": 0,
                "decoded": summary["lines"], "minutes": summary.get("minutes")}

    def synthetic_identity(self) -> dict:
        """What the synthetic stage's parts are made by: the reverse model, greedy, at the
        fastest precision of the recipe's device (int8 on a CPU, fp32 on a GPU), so parts made
        on another device are refused rather than mixed in."""
        from translator.inference import backtranslate as bt

        return bt.identity_of(self._reverse_spec(), beam=1, precision=_precision(self.cfg, True))

    def _reverse_spec(self) -> str:
        """The model that back-translates: the one given, else the reverse stage's."""
        return self.reverse or str(self.out / "reverse" / "best.pt")

    def _with_synthetic(self) -> Config:
        return self.cfg.override("data", extra=[f"{self.out / 'synthetic'}:{TAG}"],
                                 extra_ratio=self.extra_ratio)

    def choose(self) -> tuple[dict, dict]:
        """The final system, chosen on the validation set (never the test set): the
        back-translated model alone, or ensembled with the baseline."""
        from translator.evaluation.metrics import corpus_bleu

        choice = self.out / "final.json"
        if not choice.is_file():
            val = read_split(self.data, "val", self.src, self.tgt)
            candidates = {"backtranslated": str(self.out / "backtranslated" / "best.pt"),
                          "backtranslated+baseline": join_spec(
                              [self.out / name / "best.pt"
                               for name in ("backtranslated", "baseline")])}
            scores, decoded = {}, 0
            for name, spec in candidates.items():
                hyps = _translator(spec, self.cfg).translate(val.src, beam_size=self.beam)
                scores[name] = round(corpus_bleu(hyps, val.tgt), 2)
                decoded += len(val.src)
            best = max(scores, key=scores.get)
            choice.write_text(json.dumps({"system": best, "spec": candidates[best],
                                          "val_bleu": scores, "decoded": decoded}, indent=2))
        final = json.loads(choice.read_text())
        return final, {"stage": "choice", "pair": f"{self.src}-{self.tgt}", "updates": 0,
                       "decoded": final["decoded"], "minutes": None}

    def score(self, final: dict) -> dict:
        """Test BLEU of the final system and the baseline, paired bootstrap between them."""
        from translator.evaluation.significance import paired_test

        test = read_split(self.data, TEST_SPLIT, self.src, self.tgt)
        systems = [_translator(str(self.out / "baseline" / "best.pt"), self.cfg).translate(
            test.src, beam_size=self.beam),
                   _translator(final["spec"], self.cfg).translate(test.src,
                                                                  beam_size=self.beam)]
        rows = paired_test(systems, [test.tgt])
        return {"test_set": TEST_SPLIT, "beam": self.beam,
                "baseline_bleu": round(rows[0]["bleu"]["score"], 2),
                "final_bleu": round(rows[1]["bleu"]["score"], 2),
                "p_value": rows[1]["bleu"]["p_value"],
                "difference": rows[1]["bleu"]["difference"],
                "signature": rows[0]["signatures"]["bleu"]}


def _claimed_config(config: dict | None) -> dict | None:
    """The configuration a recipe's claim compares: without the settings a resumed training
    run may be given anew (state.RESUME_OPTIONS: threads, device, budget), which the recipe's
    stages resume with."""
    if not isinstance(config, dict) or not isinstance(config.get("train"), dict):
        return config
    train = {k: v for k, v in config["train"].items() if k not in RESUME_OPTIONS}
    return {**config, "train": train}


def _with_new_defaults(config: dict | None) -> dict | None:
    """A claimed configuration with the keys added to Config since, at their defaults: an
    upgrade that adds a setting (at a default that changes nothing) leaves an unfinished
    recipe resumable; a claimed value that differs still refuses it."""
    if not isinstance(config, dict):
        return config
    defaults = Config().to_dict()
    return {section: ({**defaults[section], **values} if isinstance(values, dict)
                      and section in defaults else values)
            for section, values in config.items()}


def _trained_updates(checkpoint: str) -> int:
    """The updates a checkpoint's run trained for: its run's summary.json when it has one
    (best.pt records the step of the best validation, an average its first member's), else
    the checkpoint's own step."""
    summary = Path(checkpoint).parent / "summary.json"
    if summary.is_file():
        step = json.loads(summary.read_text()).get("step")
        if isinstance(step, int):
            return step
    from translator.checkpoint import load_checkpoint

    return int(load_checkpoint(checkpoint).get("metrics", {}).get("step", 0))


def _translator(spec: str, cfg: Config, fastest: bool = False):
    """A recipe's decoder on the device its stages train on; `fastest`: back-translation's
    precision (int8 on a CPU; on a GPU the fp32 model, AMP aside)."""
    from translator.inference.translator import Translator

    return Translator.from_checkpoint(spec, device=cfg.train.device, calibrate=False,
                                      threads=cfg.train.threads,
                                      int8=_precision(cfg, fastest) == "int8")


def _precision(cfg: Config, fastest: bool) -> str:
    return "int8" if fastest and cfg.train.device == "cpu" else "fp32"


def _cell(value) -> str:
    return "-" if value is None else str(value)


def _mark(run: Path, values: dict) -> None:
    (run / "recipe-stage.json").write_text(json.dumps(values) + "\n")


def _marked(run: Path) -> dict:
    path = run / "recipe-stage.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def markdown(report: dict) -> str:
    """The report as a short Markdown page."""
    reused = sum(s.get("reused_updates", 0) for s in report["stages"])
    lines = [f"# Recipe {report['pair']}: {report['updates']} updates in all"
             + (f" (besides the reused reverse model's {reused})" if reused else ""), "",
             "| stage | pair | updates | decoded sentences | minutes | of which training |",
             "|---|---|---|---|---|---|"]
    for s in report["stages"]:
        updates = (f"0 (reused `{s['reused']}`, trained with {s['reused_updates']})"
                   if s.get("reused") else s["updates"])
        if s.get("init"):
            updates = f"{updates} (from the {s['init']}'s weights)"
        lines.append(f"| {s['stage']} | {s['pair']} | {updates} | {s['decoded']} | "
                     f"{_cell(s['minutes'])} | {_cell(s.get('training_minutes'))} |")
    final = report["final"]
    base = next((s["updates"] for s in report["stages"] if s["stage"] == "baseline"), None)
    lines += ["", f"Final system: **{final['system']}** (chosen on the validation set: "
              + ", ".join(f"{k} {v}" for k, v in final["val_bleu"].items()) + ").", "",
              f"{report['test_set']}, beam {report['beam']}: baseline "
              + (f"(the recipe's own, {base} updates) " if base is not None else "")
              + f"{report['baseline_bleu']}, "
              f"final {report['final_bleu']} BLEU (paired bootstrap p = "
              f"{report['p_value']:.4f}; difference {report['difference']['mean']:+.2f}, 95% "
              f"interval [{report['difference']['low']:+.2f}, "
              f"{report['difference']['high']:+.2f}]).", "", f"`{report['signature']}`", ""]
    return "\n".join(lines)


def check_inputs(data: Path, mono: Path, src: str, tgt: str) -> None:
    for split in ("train", "val", TEST_SPLIT):
        try:
            read_split(data, split, src, tgt)
        except CorpusError as exc:
            raise UserError(f"the recipe needs {split} of {src}-{tgt} in {data}: {exc}"
                            ) from None
    if not any((mono / f"train.{tgt}{ext}").is_file() for ext in (".gz", "")):
        raise UserError(f"no monolingual {tgt} text in {mono} (train.{tgt}.gz): "
                        f"back-translation for {src}->{tgt} needs text in {tgt}")
    from translator.inference import backtranslate as bt

    path = mono_file(mono, tgt)  # refused before any stage runs, not after two trainings
    refuse_evaluation_lines(bt.read_mono(path), evaluation_lines(data, (src, tgt)), path)


def mono_file(mono: Path, lang: str) -> Path:
    gz = mono / f"train.{lang}.gz"
    return gz if gz.is_file() else mono / f"train.{lang}"
