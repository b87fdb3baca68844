"""Ensembles (issue 30): checkpoints joined by `+` decode together, log-probabilities averaged
at every step (translator/model/ensemble.py), with their own confidence calibration stored
beside the first member (translator/inference/ensemble.py), everywhere a checkpoint is named:
translate, calibrate, evaluate, MODELS and the evaluation queue."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

import pytest
import sacrebleu
import torch
from helpers import PAIR, SRC, TGT, WorkerSet, tiny_config, wait_for_job

from translator import Translator
from translator.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from translator.checkpoint_file import spec_members
from translator.cli.main import main
from translator.data.corpus import read_split
from translator.inference import ensemble as ensemble_module
from translator.inference.confidence import mean_log_prob, uncalibrated

SENTENCES = ["red cat dog", "fish bird star rock leaf", "sun moon tree red blue cat",
             "RED CAT DOG", "red cat 1234 dog", "dog https://example.com/x fish"]


@pytest.fixture(scope="session")
def second_run(reverse_corpus, trained_run, tmp_path_factory) -> dict:
    """A second tiny model of the same vocabulary (another seed, 300 steps)."""
    from translator.training.pairs import train_run

    out = tmp_path_factory.mktemp("tiny_second")
    cfg = tiny_config(max_steps=300, eval_every=100, seed=7)
    summary = train_run(cfg, reverse_corpus, SRC, TGT, out, progress=False,
                        echo=lambda message: None)
    torch.set_num_threads(1)
    first, second = (load_checkpoint(d / "best.pt")["spm"] for d in (trained_run["dir"], out))
    assert first == second, "the second model must share the first one's SentencePiece models"
    return {"dir": out, "summary": summary}


@pytest.fixture(scope="session")
def members(trained_run, second_run) -> tuple[str, str]:
    return str(trained_run["dir"] / "best.pt"), str(second_run["dir"] / "best.pt")


@pytest.fixture
def copies(members, tmp_path) -> tuple[str, str]:
    """Private copies of the two members (their calibration files are written beside them)."""
    out = []
    for name, path in zip("ab", members):
        (tmp_path / name).mkdir()
        out.append(str(shutil.copy(path, tmp_path / name / "best.pt")))
    return out[0], out[1]


def _hyps(translator, beam, n_best=1):
    return translator.translate_hypotheses(SENTENCES, beam_size=beam, n_best=n_best)


# ----------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("beam,n_best", [(1, 1), (4, 3)])
def test_an_ensemble_of_a_model_with_itself_decodes_as_the_model(trained_translator, members,
                                                                  beam, n_best):
    """The average of two equal distributions is that distribution: texts, tokens, scores
    and attention of every n-best entry equal the single model's, greedy and beam."""
    alone = trained_translator
    twice = Translator.from_checkpoint(f"{members[0]}+{members[0]}", calibrate=False)
    assert twice.members == [members[0], members[0]]
    for mine, theirs in zip(_hyps(twice, beam, n_best), _hyps(alone, beam, n_best)):
        assert [t for t, _ in mine] == [t for t, _ in theirs]
        for (_, a), (_, b) in zip(mine, theirs):
            assert a.tokens == b.tokens
            assert a.score == pytest.approx(b.score, abs=1e-6)
            assert a.log_prob == pytest.approx(b.log_prob, abs=1e-6)
    aligned = twice.translate_aligned(SENTENCES, beam_size=beam)
    assert [a.alignment for a in aligned] == \
        [a.alignment for a in alone.translate_aligned(SENTENCES, beam_size=beam)]


def test_an_int8_ensemble_of_a_model_with_itself_decodes_as_the_int8_model(members):
    twice = Translator.from_checkpoint(f"{members[0]} + {members[0]}", int8=True,
                                       calibrate=False)
    assert any("quantized" in type(m).__module__ for m in twice.model.modules())
    alone = Translator.from_checkpoint(members[0], int8=True)
    assert twice.translate(SENTENCES, beam_size=3) == alone.translate(SENTENCES, beam_size=3)


def test_a_bf16_ensemble_runs_where_bf16_does(members):
    from translator.inference.precision import PrecisionError, bf16_unsupported_reason

    spec = f"{members[0]}+{members[1]}"
    if bf16_unsupported_reason("cpu"):
        with pytest.raises(PrecisionError):
            Translator.from_checkpoint(spec, bf16=True, calibrate=False)
        return
    out = Translator.from_checkpoint(spec, bf16=True, calibrate=False).translate(SENTENCES[:3])
    assert all(out)


def test_an_ensemble_of_two_models_averages_their_log_probabilities(members, reverse_corpus):
    """Where both members and the ensemble choose the same greedy output, the ensemble's
    log-probability is exactly the mean of the members' (it averages every step); it differs
    from each member's, and the ensemble translates the test set as well as its members."""
    a, b = (Translator.from_checkpoint(m) for m in members)
    both = Translator.from_checkpoint("+".join(members), calibrate=False)
    test = read_split(reverse_corpus, "test_2016_flickr", SRC, TGT)
    src = test.src[:40]
    hyps = [t.translate_hypotheses(src, beam_size=1) for t in (a, b, both)]
    compared = 0
    for ha, hb, he in zip(*hyps):
        (_, x), (_, y), (_, z) = ha[0], hb[0], he[0]
        if x.tokens == y.tokens == z.tokens:
            assert z.log_prob == pytest.approx((x.log_prob + y.log_prob) / 2, abs=1e-4)
            compared += 1
    assert compared >= 10
    assert any(he[0][1].log_prob not in (ha[0][1].log_prob, hb[0][1].log_prob)
               for ha, hb, he in zip(*hyps))
    bleu = {name: sacrebleu.corpus_bleu(t.translate(test.src, beam_size=3), [test.tgt]).score
            for name, t in (("a", a), ("b", b), ("both", both))}
    assert bleu["both"] >= min(bleu["a"], bleu["b"]) - 5, bleu
    for hyps_ in both.translate_hypotheses(src[:5], beam_size=4, n_best=4):
        scores = [h.score for _, h in hyps_]
        assert scores == sorted(scores, reverse=True)
        assert all(math.isfinite(h.log_prob) and h.log_prob <= 0 for _, h in hyps_)


def test_every_feature_works_with_an_ensemble(members):
    """n-best, confidence, alignments, casing, protected spans, documents."""
    both = Translator.from_checkpoint("+".join(members), calibrate=False)
    assert both.src_lang == SRC and both.tgt_lang == TGT
    aligned = both.translate_aligned(SENTENCES)
    for src, out in zip(SENTENCES, aligned):
        assert len(out.alignment) == len(out.text.split())
        assert all(0 <= i < len(src.split()) for i in out.alignment)
        assert 0 < out.confidence <= 1
    assert aligned[0].text == "dog cat red"
    assert aligned[3].text == "DOG CAT RED"  # truecased in, ALL-CAPS out
    assert "1234" in aligned[4].text and "https://example.com/x" in aligned[5].text
    n_best = both.translate_hypotheses(SENTENCES[:2], beam_size=3, n_best=3)
    assert all(len(h) == 3 for h in n_best)
    document = both.translate_document("red cat dog. fish bird star.\n\nsun moon tree.\n")
    assert document.count("\n\n") == 1 and "cat" in document


def test_members_of_different_vocabularies_or_pairs_are_refused(members, tmp_path):
    from translator.data.vocab import train_tokenizers

    data = load_checkpoint(members[0])
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    src_tok, tgt_tok = train_tokenizers(["a b c d e f g", "h i j k l"] * 50,
                                        ["m n o p", "q r s t u"] * 50, size=30)
    other = save_checkpoint(tmp_path / "other.pt", {
        **payload, "spm": {"src": src_tok.model_bytes, "tgt": tgt_tok.model_bytes}})
    with pytest.raises(CheckpointError) as refused:
        Translator.from_checkpoint(f"{members[0]}+{other}")
    message = str(refused.value)
    assert "\n" not in message and str(other) in message and members[0] in message
    assert "SentencePiece models differ" in message
    pair = save_checkpoint(tmp_path / "pair.pt", {
        **payload, "meta": {**payload["meta"], "src_lang": "de"}})
    with pytest.raises(CheckpointError, match="language pairs differ"):
        Translator.from_checkpoint(f"{members[0]}+{pair}")
    with pytest.raises(CheckpointError, match="empty checkpoint"):
        Translator.from_checkpoint(f"{members[0]}+")
    with pytest.raises(CheckpointError, match="not found"):
        Translator.from_checkpoint(f"{members[0]}+{tmp_path / 'missing.pt'}")


def test_a_file_whose_name_holds_a_plus_is_one_checkpoint(members, tmp_path):
    plus = shutil.copy(members[0], tmp_path / "best+1.pt")
    assert spec_members(plus) == [str(plus)]
    assert spec_members("a.pt + b.pt") == ["a.pt", "b.pt"]


# ----------------------------------------------------------------------------- calibration
def test_the_calibration_is_fitted_stored_reused_and_refitted(copies, trained_run, caplog,
                                                              monkeypatch):
    """First load: fitted on the validation set the first member records, stored beside it
    under a name from the members' contents. Second load: read back, not fitted. A member
    changed: the old file is ignored (a warning), a new one fitted and the old one removed."""
    spec = "+".join(copies)
    both = Translator.from_checkpoint(spec)
    files = list(Path(copies[0]).parent.glob("best.ensemble-*.json"))
    assert len(files) == 1 and len(files[0].name) == len("best.ensemble-.json") + 16
    record = json.loads(files[0].read_text())
    assert record["members"] == [str(Path(c).resolve()) for c in copies]
    assert record["confidence"]["sentences"] == 100 and both.calibration is not None
    assert both.calibration.a == record["confidence"]["a"]
    hyp = both.translate_hypotheses(["red cat dog"])[0][0][1]
    assert both.confidence(hyp) == round(both.calibration(mean_log_prob(
        hyp.log_prob, len(hyp.tokens))), 4)

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted although the members are unchanged")

    with monkeypatch.context() as m:
        m.setattr(ensemble_module, "fit_calibration", no_fit)
        again = Translator.from_checkpoint(spec)
    assert again.calibration == both.calibration

    shutil.copy(trained_run["dir"] / "last.pt", copies[1])  # the second member changes
    ensemble_module._sha256.cache_clear()
    caplog.set_level(logging.INFO, logger="translator.inference.ensemble")
    changed = Translator.from_checkpoint(spec)
    assert "ignoring its calibration" in caplog.text and files[0].name in caplog.text
    now = list(files[0].parent.glob("best.ensemble-*.json"))
    assert len(now) == 1 and now[0] != files[0] and not files[0].exists()
    assert changed.calibration is not None


def test_without_a_calibration_the_confidence_is_uncalibrated(copies, tmp_path):
    both = Translator.from_checkpoint("+".join(copies), calibrate=False)
    assert both.calibration is None
    assert not list(tmp_path.glob("*/*.json"))
    hyp = both.translate_hypotheses(["red cat dog"])[0][0][1]
    assert both.confidence(hyp) == round(uncalibrated(mean_log_prob(hyp.log_prob,
                                                                    len(hyp.tokens))), 4)


def test_calibrate_command_fits_an_ensemble(copies, reverse_corpus, capsys):
    spec = "+".join(copies)
    assert main(["calibrate", "--checkpoint", spec, "--data", str(reverse_corpus),
                 "--beam", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["file"].endswith(".json") and out["confidence"]["sentences"] == 100
    assert main(["calibrate", "--checkpoint", spec, "--data", str(reverse_corpus),
                 "--if-missing"]) == 0
    assert "has a current confidence calibration" in capsys.readouterr().err
    assert main(["calibrate", "--checkpoint", spec, "--out", "x.pt"]) == 2
    assert "--out is for one checkpoint" in capsys.readouterr().err


# ----------------------------------------------------------------------------- commands
def test_translate_and_evaluate_commands_take_an_ensemble(members, reverse_corpus, tmp_path,
                                                          capsys):
    spec = "+".join(members)
    src = tmp_path / "in.txt"
    src.write_text("red cat dog\nfish bird star\n")
    assert main(["translate", "--checkpoint", spec, "-i", str(src), "--beam", "2",
                 "--confidence", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = Translator.from_checkpoint(spec).translate_scored(
        ["red cat dog", "fish bird star"], beam_size=2)
    assert lines == [f"{s.text}\t{s.confidence:.4f}" for s in expected]

    hyps = tmp_path / "hyps"
    assert main(["evaluate", "--checkpoint", members[0], spec, "--data", str(reverse_corpus),
                 "--src", SRC, "--tgt", TGT, "--beam", "2", "--bootstrap", "20", "--json",
                 "--save-hyps", str(hyps)]) == 0
    document = json.loads(capsys.readouterr().out)
    results = document["results"]
    assert [r["checkpoint"] for r in results] == [members[0], spec]
    assert results[1]["p_values"] is not None and results[1]["bleu"] > 50
    names = sorted(p.name for p in hyps.iterdir())
    assert any("+" in name for name in names) and len(names) == 2


# ----------------------------------------------------------------------------- serving
def test_models_with_an_ensemble_served_by_a_real_worker(copies, reverse_corpus, tmp_path):
    """MODELS `xx-yy=a.pt+b.pt`: the checks before start, the listings, a real worker's
    translation (the same as in-process, with the calibration the worker fitted), /healthz
    and /status."""
    import dataclasses

    from web import create_app
    from worker.celery_app import make_app
    from worker.checks import known_checkpoints, resolve_checkpoint
    from worker.intake import Intake
    from worker.redis_server import EmbeddedRedis
    from worker.serve import unusable_checkpoints
    from worker.settings import Settings
    from worker.store import JobStore

    spec = "+".join(copies)
    broken = Settings.from_env({"MODELS": f"{PAIR}={copies[0]}+{tmp_path / 'gone.pt'}"},
                               dotenv=None)
    why = unusable_checkpoints(broken)[PAIR]
    assert "its member" in why and "gone.pt" in why and "does not exist" in why
    with EmbeddedRedis(tmp_path / "state") as server:
        env = {"REDIS_URL": server.url, "MODELS": f"{PAIR}={copies[0]} + {copies[1]}",
               "CHECKPOINT_DIRS": str(tmp_path / "none"), "MULTI30K_DIR": str(reverse_corpus),
               "TORCH_THREADS": "1", "PRECISION": "fp32", "BATCH_WINDOW_MS": "5",
               "STATE_DIR": str(tmp_path / "state")}
        settings = Settings.from_env(env, dotenv=None)
        assert settings.model_paths() == {PAIR: spec} and not unusable_checkpoints(settings)
        assert settings.model_entries()[PAIR]["test"] == {}
        assert known_checkpoints(settings) == {f"{PAIR} (best.pt+best.pt)": spec}
        assert resolve_checkpoint(settings, f"{PAIR} (best.pt+best.pt)") == spec
        app = make_app(settings)
        workers = WorkerSet(env, tmp_path)
        workers.start("text")
        try:
            workers.wait_ready(app, names=("text",))
            store = JobStore(settings)
            job = wait_for_job(store, Intake(store, app).submit_text(
                ["red cat dog", "fish bird star rock"], PAIR, beam_size=3)["id"])
            assert job["status"] == "done", job
            result = store.get_result(job["id"])
            expected = Translator.from_checkpoint(spec).translate_scored(
                ["red cat dog", "fish bird star rock"], beam_size=3)
            assert result["translations"] == [s.text for s in expected]
            assert result["confidence"] == [s.confidence for s in expected]
            assert list((tmp_path / "a").glob("best.ensemble-*.json"))  # fitted at warm-up
            web = create_app({"SETTINGS": dataclasses.replace(
                settings, secret_key="test-secret", rate_limit=""), "TESTING": True})
            client = web.test_client()
            deadline = time.monotonic() + 60
            while (health := client.get("/healthz").get_json())["models"] != "ready":
                assert time.monotonic() < deadline, health
                time.sleep(0.2)
            assert health["models_ready"] == [PAIR]
            status = client.get("/status")
            assert status.status_code == 200 and PAIR in status.get_data(as_text=True)
        finally:
            workers.stop_all()


def test_an_ensemble_evaluation_through_the_intake_joins_the_leaderboard(
        intake, job_store, trained_run, second_run, members):
    from worker.errors import InputError
    from worker.leaderboard import leaderboard

    name = f"{trained_run['dir'].name}/best.pt+{second_run['dir'].name}/best.pt"
    job = wait_for_job(job_store, intake.submit_evaluation(
        name, testset="test_2016_flickr", beam_size=2)["id"], timeout=180)
    assert job["status"] == "done", job
    assert job["model"] == name and job["pair"] == PAIR and job["scores"]["bleu"] > 50
    assert len(job_store.get_result(job["id"])["hypotheses"]) == 100
    rows = [r for board in leaderboard(intake, lambda ev: True) for r in board["rows"]]
    assert name in [r["name"] for r in rows]
    for bad in (f"{trained_run['dir'].name}/best.pt+nope/best.pt",
                f"{trained_run['dir'].name}/best.pt+../../etc/passwd", "+".join(members)):
        with pytest.raises(InputError, match="unknown checkpoint"):
            intake.submit_evaluation(bad, testset="test_2016_flickr")
