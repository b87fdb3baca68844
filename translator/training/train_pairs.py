"""A set of pairs trained in turn (`translator train-pairs`): sequential and resumable, with the
models directory's index of translator/training/index.py.

`train_pairs` skips a pair whose run finished (summary.json written and its checkpoints
there), resumes one that was interrupted (last.pt there, no summary.json) and starts the
others, so a set of models can be built over several sessions with the same command. The
worker reads the index (MODELS=models/) to know which pairs it serves and their test scores.
With monolingual text, a pair is built by the recipe (translator/training/recipe.py) instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from translator.config import Config
from translator.defaults import TEST_SPLIT
from translator.errors import UserError
from translator.training.index import run_state, write_index
from translator.training.pairs import say_on_stderr, train_run


def train_pairs(cfg: Config, data_dir: str | Path, pairs: Sequence[tuple[str, str]],
                out: str | Path, progress: bool = True, overrides: dict | None = None,
                test_beams: Sequence[int] = (), echo: Callable[[str], None] | None = None,
                cache_dir: str | Path | None = None, prepare_processes: int = 0,
                mono: str | Path | None = None) -> dict:
    """Train each pair in turn into `out/<src>-<tgt>/` (the module docstring's rules) and
    rewrite the index after each; returns the index. Stops at the first interrupted run.

    With `mono` (a directory of monolingual text, train.<lang>.gz), a pair whose target
    language has text there is built by the recipe (translator/training/recipe.py: baseline,
    reverse model, back-translation, final system) within the same `max_steps` updates in
    all; the others are trained plainly. A pair whose other direction's recipe has finished
    its baseline back-translates with that baseline instead of training a reverse model."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("train-pairs does not run under torchrun (its ranks would each write "
                        "the index and score the test sets); run `torchrun ... -m translator "
                        "train` for each pair, into out/<src>-<tgt>")
    say = echo or say_on_stderr
    out = Path(out)
    if mono is not None:  # every recipe's inputs checked before any pair trains
        _check_recipes(cfg, data_dir, Path(mono), pairs, out)
    out.mkdir(parents=True, exist_ok=True)
    for src, tgt in pairs:
        pair, run_dir = f"{src}-{tgt}", out / f"{src}-{tgt}"
        state = run_state(run_dir)
        if state == "finished":
            say(f"{pair}: finished earlier, skipped")
            continue
        by_recipe = mono is not None and recipe_applies(Path(mono), tgt)
        _check_kind(run_dir, by_recipe)
        if by_recipe:
            say(f"{pair}: the recipe (back-translation of {tgt} text in {mono}) into {run_dir}")
            _run_recipe(cfg, data_dir, Path(mono), src, tgt, run_dir, progress, say, cache_dir,
                        reverse=_reverse_model(out, src, tgt))
            write_index(out)
            continue
        say(f"{pair}: {'resuming' if state == 'interrupted' else 'training'} into {run_dir}")
        summary = train_run(cfg, data_dir, src, tgt, run_dir, resume=state == "interrupted",
                            progress=progress, overrides=overrides, test_beams=test_beams,
                            echo=say, cache_dir=cache_dir, prepare_processes=prepare_processes)
        if summary.get("stop_reason") == "interrupted":
            write_index(out)
            raise KeyboardInterrupt
        say(f"{pair}: {summary.get('stop_reason')}; "
            + ", ".join(f"{k} {v}" for k, v in summary.items() if k.startswith(TEST_SPLIT)
                        and "_bleu_" in k))
        write_index(out)
    return write_index(out)


def _check_kind(run_dir: Path, by_recipe: bool) -> None:
    """Refuse to continue an unfinished run of the other kind in `run_dir` (a plain run's
    last.pt under a recipe, or a recipe's stages under a plain run)."""
    if by_recipe and (run_dir / "last.pt").is_file():
        raise UserError(f"{run_dir} holds an unfinished plain run: finish it without --mono, "
                        f"or move it away to build {run_dir.name} by the recipe")
    if not by_recipe and (run_dir / "recipe.json").is_file():
        raise UserError(f"{run_dir} holds an unfinished recipe: rerun with the same --mono to "
                        f"finish it, or move it away to train {run_dir.name} plainly")


def recipe_applies(mono: Path, lang: str) -> bool:
    """Whether `mono` has monolingual text of `lang` for the recipe."""
    from translator.training.recipe import mono_file

    return mono_file(mono, lang).is_file()


def _check_recipes(cfg: Config, data_dir: str | Path, mono: Path,
                   pairs: Sequence[tuple[str, str]], out: Path) -> None:
    """Refuse, before anything trains, what the pairs to be built by the recipe would refuse
    when their turn came: no --max-steps, or monolingual text holding evaluation lines."""
    from translator.training.recipe import check_inputs

    todo = [(s, t) for s, t in pairs if recipe_applies(mono, t)
            and run_state(out / f"{s}-{t}") != "finished"]
    if todo and not cfg.train.max_steps:
        raise UserError("train-pairs with --mono needs --max-steps: each recipe's budget in "
                        "updates (all its stages together)")
    for src, tgt in todo:
        check_inputs(Path(data_dir), mono, src, tgt)


def _reverse_model(out: Path, src: str, tgt: str) -> str | None:
    """What the pair's recipe back-translates with instead of training a reverse model: the
    finished baseline of the other direction's recipe in `out` (tgt->src); None without one.
    An unfinished recipe goes on as it began (with the model it claimed, or none)."""
    from translator.checkpoint_file import join_spec

    claimed = out / f"{src}-{tgt}" / "recipe.json"
    if claimed.is_file():
        members = json.loads(claimed.read_text()).get("reverse")
        return join_spec(members) if members else None
    other = out / f"{tgt}-{src}"
    if (other / "recipe.json").is_file() and run_state(other / "baseline") == "finished":
        return str(other / "baseline" / "best.pt")
    return None


def _run_recipe(cfg: Config, data_dir: str | Path, mono: Path, src: str, tgt: str,
                run_dir: Path, progress: bool, say: Callable[[str], None],
                cache_dir: str | Path | None, reverse: str | None = None) -> None:
    from translator.training.recipe import Recipe

    if reverse:
        say(f"{src}-{tgt}: back-translating with the {tgt}-{src} recipe's baseline ({reverse})")
    report = Recipe(cfg, Path(data_dir), mono, src, tgt, run_dir, cfg.train.max_steps,
                    progress=progress, echo=say, reverse=reverse,
                    cache_dir=Path(cache_dir) if cache_dir else None).run()
    say(f"{src}-{tgt}: recipe finished; {report['test_set']} beam {report['beam']} BLEU "
        f"{report['final_bleu']} ({report['final']['system']}; baseline "
        f"{report['baseline_bleu']})")
