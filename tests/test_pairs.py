"""`translator train-pairs` (translator/training/train_pairs.py): several directions in turn,
a finished pair skipped, an interrupted one resumed, the models index; MODELS naming the
directory; the worker's model cache (MAX_MODELS)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
from helpers import SRC, TGT

from translator.cli.main import main
from translator.errors import UserError
from translator.languages import parse_pairs
from translator.training.index import read_index, run_state
from worker.settings import Settings, SettingsError


def train_pairs(capsys, data, out, steps: int) -> tuple[int, str, str]:
    code = main(["train-pairs", "--preset", "tiny", "--data", str(data), "--pairs",
                 f"{SRC}-{TGT},{TGT}-{SRC}", "--out", str(out), "--max-steps", str(steps),
                 "--threads", "1", "--test-beam", "2", "-q"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_pairs_trains_skips_and_resumes(capsys, reverse_corpus, tmp_path):
    out = tmp_path / "models"
    code, stdout, _ = train_pairs(capsys, reverse_corpus, out, 6)
    assert code == 0
    index = json.loads((out / "index.json").read_text())
    assert json.loads(stdout) == index
    assert [m["pair"] for m in index["models"]] == sorted([f"{SRC}-{TGT}", f"{TGT}-{SRC}"])
    entry = index["models"][0]
    assert entry["checkpoint"] == f"{entry['pair']}/best.pt" and entry["steps"] == 6
    assert {"bleu_beam2", "chrf_beam2", "bleu_greedy"} <= set(entry["test"])
    # Run again: both are finished, nothing is trained.
    mtime = (out / f"{SRC}-{TGT}" / "best.pt").stat().st_mtime_ns
    code, _, err = train_pairs(capsys, reverse_corpus, out, 6)
    assert code == 0 and err.count("finished earlier, skipped") == 2
    assert (out / f"{SRC}-{TGT}" / "best.pt").stat().st_mtime_ns == mtime
    # An interrupted pair (a last.pt, no summary.json) resumes where it stopped.
    (out / f"{TGT}-{SRC}" / "summary.json").unlink()
    assert run_state(out / f"{TGT}-{SRC}") == "interrupted"
    code, _, err = train_pairs(capsys, reverse_corpus, out, 9)
    assert code == 0 and f"{TGT}-{SRC}: resuming" in err
    resumed = json.loads((out / f"{TGT}-{SRC}" / "summary.json").read_text())
    assert resumed["step"] == 9  # went on from step 6, not from 0
    assert len(json.loads((out / "index.json").read_text())["models"]) == 2


def test_models_may_name_a_models_directory(tmp_path):
    out = tmp_path / "models"
    (out / "de-en").mkdir(parents=True)
    (out / "index.json").write_text(json.dumps({"models": [
        {"pair": "de-en", "checkpoint": "de-en/best.pt", "test": {"bleu_beam5": 30.1}}]}))
    settings = Settings.from_env({"MODELS": f"{out},fr-en=x.pt"}, dotenv=None)
    paths = settings.model_paths()
    assert paths == {"de-en": str((out / "de-en" / "best.pt").resolve()), "fr-en": "x.pt"}
    assert settings.model_entries()["de-en"]["test"]["bleu_beam5"] == 30.1
    assert read_index(out)["de-en"]["pair"] == "de-en"
    (out / "index.json").write_text("{not json")
    with pytest.raises(SettingsError, match="not a models index"):
        settings.model_paths()  # re-read when it changes, and refused clearly
    with pytest.raises(SettingsError, match="models directory"):
        Settings.from_env({"MODELS": str(tmp_path / "nowhere")}, dotenv=None)


def test_pairs_are_checked():
    assert parse_pairs("de-en, EN-fr") == [("de", "en"), ("en", "fr")]
    for bad in ("de", "de-de", "de-en,de-en", "d1-en", ""):
        with pytest.raises(UserError):
            parse_pairs(bad)


def test_a_worker_keeps_at_most_max_models(trained_run, tmp_path):
    """MAX_MODELS: loading one more model drops the least recently used."""
    from worker.runtime import WorkerState

    paths = {}
    for pair in ("aa-bb", "cc-dd", "ee-ff"):
        paths[pair] = tmp_path / f"{pair}.pt"
        shutil.copy(trained_run["dir"] / "best.pt", paths[pair])
    settings = Settings.from_env({"MODELS": ",".join(f"{p}={path}" for p, path in
                                                     paths.items()),
                                  "MAX_MODELS": "2", "PRECISION": "fp32"}, dotenv=None)
    state = WorkerState(SimpleNamespace(settings=settings))
    first = state.translator_for("aa-bb")
    state.translator_for("cc-dd")
    assert state.translator_for("aa-bb") is first  # kept, and now the most recent
    state.translator_for("ee-ff")  # drops cc-dd, the least recently used
    assert list(state._models) == [str(paths[p].resolve()) for p in ("aa-bb", "ee-ff")]
    assert state.translator_for("cc-dd") is not None and len(state._models) == 2


def test_an_index_entry_may_be_an_ensemble_or_a_run_named_with_a_plus(trained_run, tmp_path):
    """A recipe's summary names its final system (`a/best.pt+b/best.pt`, relative to its
    directory); a run whose own name holds a `+` is one checkpoint, not an ensemble."""
    from translator.training.index import write_index

    models = tmp_path / "models"
    recipe = models / f"{SRC}-{TGT}"
    for stage in ("backtranslated", "baseline"):
        (recipe / stage).mkdir(parents=True)
        shutil.copy(trained_run["dir"] / "best.pt", recipe / stage / "best.pt")
    (recipe / "summary.json").write_text(json.dumps({
        "checkpoint": "backtranslated/best.pt+baseline/best.pt", "step": 30,
        "test_2016_flickr_bleu_beam5": 50.0}))
    plus = tmp_path / "plus+dir"
    plus.mkdir()
    shutil.copy(trained_run["dir"] / "best.pt", plus / "best.pt")
    assert run_state(recipe) == "finished"
    write_index(models)
    entry = read_index(models)[f"{SRC}-{TGT}"]
    assert entry["checkpoint"] == "+".join(str((recipe / s / "best.pt").resolve())
                                           for s in ("backtranslated", "baseline"))
    assert entry["test"] == {"bleu_beam5": 50.0}
    (recipe / "baseline" / "best.pt").unlink()  # a member missing: the run is not finished
    assert run_state(recipe) != "finished"
    (tmp_path / "index.json").write_text(json.dumps({"models": [
        {"pair": f"{SRC}-{TGT}", "checkpoint": "plus+dir/best.pt", "test": {}}]}))
    assert read_index(tmp_path)[f"{SRC}-{TGT}"]["checkpoint"] == str((plus / "best.pt").resolve())


@pytest.mark.parametrize("summary", ['{"checkpoint": 5}', "not json", '{"checkpoint": ""}',
                                     '["a list"]'])
def test_a_summary_without_a_usable_checkpoint_means_best_pt(summary, tmp_path):
    from translator.training.index import run_checkpoint

    (tmp_path / "summary.json").write_text(summary)
    assert run_checkpoint(tmp_path) == "best.pt"
    assert run_state(tmp_path) == "new"
    (tmp_path / "best.pt").write_bytes(b"x")
    assert run_state(tmp_path) == "finished"
