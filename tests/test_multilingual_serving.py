"""Serving one multilingual model (worker/models.py, worker/runtime.py): a checkpoint named
without a pair serves every direction it translates, one model in memory; a pair's own model
wins for its pair; a models directory lists a multilingual run; and `translator serve`
answers every direction through LibreTranslate's API and its own client library: one at a
time and all at once, HTML, a document through the file API, and the status page."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import LANGS, REAL_CODES, ROOT, three_way

from translator.checkpoint_file import read_meta, spec_directions
from translator.inference.translator import Translator
from translator.training.index import read_index, write_index
from worker.models import directions, read_models
from worker.redis_server import free_port
from worker.settings import SettingsError

DIRECTIONS = [f"{s}-{t}" for s in LANGS for t in LANGS if s != t]


def test_the_languages_are_read_from_the_checkpoint_without_torch(multilingual_run,
                                                                   trained_run):
    best = multilingual_run["dir"] / "best.pt"
    code = ("import sys; from translator.checkpoint_file import spec_directions; "
            f"print(spec_directions({str(best)!r})); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.split("\n")[:2] == [repr(DIRECTIONS), "False"]
    assert spec_directions(trained_run["dir"] / "best.pt") == []
    assert read_meta(trained_run["dir"] / "best.pt")["src_lang"] == "xx"


def test_a_checkpoint_without_a_pair_serves_every_direction(multilingual_run, trained_run):
    best = str(multilingual_run["dir"] / "best.pt")
    models = read_models(best, scores=True)
    assert sorted(models) == sorted(DIRECTIONS)
    assert {m["checkpoint"] for m in models.values()} == {best}
    assert all(m["multilingual"] for m in models.values())
    summary = multilingual_run["summary"]["directions"]
    assert models["zz-xx"]["test"]["bleu_beam5"] == summary["zz-xx"][
        "test_2016_flickr_bleu_beam5"]
    # every direction is direct: nothing pivots
    assert all(via is None for targets in directions(
        {p: m["checkpoint"] for p, m in models.items()}, "xx").values()
        for via in targets.values())
    # a model of one pair named without its pair serves that pair
    reverse = str(trained_run["dir"] / "best.pt")
    assert list(read_models(reverse, scores=False)) == ["xx-yy"]
    # an ensemble of multilingual checkpoints named without a pair: every direction of it
    ensemble = f"{best}+{multilingual_run['dir'] / 'last.pt'}"
    models = read_models(ensemble, scores=False)
    assert sorted(models) == sorted(DIRECTIONS)
    assert {m["checkpoint"] for m in models.values()} == {ensemble}


@pytest.mark.parametrize("named", [True, False], ids=["pair=path", "bare one-pair checkpoint"])
@pytest.mark.parametrize("order", ["pair first", "pair last"])
def test_a_pairs_own_model_wins_over_the_multilingual_direction(multilingual_run, trained_run,
                                                                 order, named):
    multi, reverse = multilingual_run["dir"] / "best.pt", trained_run["dir"] / "best.pt"
    entries = [f"xx-yy={reverse}" if named else str(reverse), str(multi)]
    models = read_models(",".join(entries if order == "pair first" else entries[::-1]),
                         scores=False)
    assert models["xx-yy"]["checkpoint"] == str(reverse)
    assert models["yy-xx"]["checkpoint"] == str(multi)


def test_a_pair_named_model_wins_over_a_bare_one_pair_checkpoint(trained_run, tmp_path):
    reverse = trained_run["dir"] / "best.pt"
    bare = tmp_path / "other.pt"
    shutil.copy(reverse, bare)
    for spec in (f"xx-yy={reverse},{bare}", f"{bare},xx-yy={reverse}"):
        assert read_models(spec, scores=False)["xx-yy"]["checkpoint"] == str(reverse), spec


def test_a_checkpoint_damaged_after_it_was_read_keeps_its_directions_listed(
        multilingual_run, trained_run, tmp_path):
    """Replaced or damaged while serving: the other pairs still route, and its own
    directions stay listed (their requests then fail alone, at load time)."""
    multi = tmp_path / "multi.pt"
    multi.write_bytes((multilingual_run["dir"] / "best.pt").read_bytes())
    spec = f"{multi},xx-yy={trained_run['dir'] / 'best.pt'}"
    before = read_models(spec, scores=False)  # what the service's start reads
    multi.write_bytes(b"half a checkpoint")
    assert read_models(spec, scores=False) == before
    assert read_models(spec, scores=True).keys() == before.keys()  # the listings go on too
    multi.unlink()
    assert read_models(spec, scores=False) == before
    fresh = tmp_path / "never_read.pt"
    fresh.write_bytes(b"half a checkpoint")
    with pytest.raises(SettingsError, match="not a readable checkpoint"):
        read_models(f"{fresh}", scores=False)


def test_a_file_that_is_no_checkpoint_is_refused_clearly(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SettingsError, match="not a readable checkpoint"):
        read_models(str(bad), scores=False)
    with pytest.raises(SettingsError, match="neither `src-tgt=path` nor a models directory"):
        read_models(str(tmp_path / "nothing"), scores=False)


def test_a_models_directory_lists_a_multilingual_run(multilingual_run, trained_run, tmp_path):
    models = tmp_path / "models"
    for name, run in (("multi", multilingual_run["dir"]), ("xx-yy", trained_run["dir"])):
        (models / name).mkdir(parents=True)
        for file in ("best.pt", "summary.json"):
            shutil.copy(run / file, models / name / file)
    index = write_index(models)
    multi = next(e for e in index["models"] if "directions" in e)
    assert multi["directions"] == DIRECTIONS and multi["checkpoint"] == "multi/best.pt"
    read = read_index(models)
    assert sorted(read) == sorted(DIRECTIONS)
    assert read["xx-yy"]["checkpoint"].endswith("xx-yy/best.pt")  # the pair's own model
    assert read["zz-yy"]["checkpoint"].endswith("multi/best.pt")
    assert read["zz-yy"]["test"]["bleu_beam5"] >= 85
    assert sorted(read_models(str(models), scores=True)) == sorted(DIRECTIONS)


def test_directions_decoded_in_one_batch_equal_each_decoded_alone(multilingual_run):
    model = Translator.from_checkpoint(multilingual_run["dir"] / "best.pt")
    items = [("xx-yy", "cat dog sun"), ("zz-xx", "katze baum"), ("xx-zz", "red fish"),
             ("yy-zz", "gato perro"), ("xx-yy", ""), ("zz-xx", "fisch vogel stern")]
    together = model.translate_directions(items, beam_size=3)
    for (direction, text), hyps in zip(items, together):
        alone = model.for_pair(*direction.split("-")).translate_hypotheses([text],
                                                                           beam_size=3)[0]
        assert [t for t, _ in hyps] == [t for t, _ in alone]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def test_serve_answers_every_direction_through_libretranslate(multilingual_run, trained_run,
                                                             real_code_multilingual, tmp_path):
    """Beside the three-way model, the same task under real codes (en, es, de), so that a
    detected source (`source=auto`) is routed to the multilingual model's direction."""
    from libretranslatepy import LibreTranslateAPI

    multi, reverse = multilingual_run["dir"] / "best.pt", trained_run["dir"] / "best.pt"
    real = real_code_multilingual["dir"] / "best.pt"
    env = {**os.environ, "STATE_DIR": str(tmp_path / "state"), "REDIS_URL": "",
           "PYTHONPATH": str(ROOT), "PRECISION": "fp32", "TORCH_THREADS": "1"}
    env.pop("MODELS", None)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "translator", "serve", "--port", str(port),
                             "--text-threads", "4", "--model", str(multi), "--model",
                             f"xx-yy={reverse}", "--model", str(real)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # slow on a loaded machine, not dead
        while True:
            try:
                with urllib.request.urlopen(server + "/healthz") as r:
                    health = json.load(r)
                if health.get("models") == "ready":
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.3)
        client = LibreTranslateAPI(server + "/")
        languages = {lang["code"]: set(lang["targets"]) for lang in client.languages()}
        assert {code: languages.get(code) for code in LANGS} == {
            code: set(LANGS) - {code} for code in LANGS}
        words = ["cat", "dog", "sun"]
        sentence = three_way(words)
        for direction in DIRECTIONS:
            src, tgt = direction.split("-")
            expected = (" ".join(reversed(words)) if direction == "xx-yy"  # the pair's own
                        else sentence[tgt])
            assert client.translate(sentence[src], src, tgt) == expected, direction
        html = _post(server + "/translate", {"q": "<p>katze <b>hund</b></p>", "source": "zz",
                                             "target": "xx", "format": "html"})
        assert html["translatedText"] == "<p>cat <b>dog</b></p>"
        # requests in every direction at once: the micro-batcher may put them in one batch
        # of the one model, each with its own target token (sentences of the training
        # lengths, 3 to 8 words: a shorter one's end is a near tie for the tiny model, which
        # another batch's rounding can tip, "dog star" -> "dog star star")
        sentences = [three_way(w) for w in (["red", "fish", "bird"], ["moon", "tree", "cat"],
                                             ["dog", "star", "rock", "leaf"])]
        asks = [(d, s) for d in DIRECTIONS if d != "xx-yy" for s in sentences]
        with ThreadPoolExecutor(len(asks)) as pool:
            answers = list(pool.map(lambda ask: client.translate(
                ask[1][ask[0][:2]], ask[0][:2], ask[0][3:]), asks))
        assert answers == [s[d[3:]] for d, s in asks]
        # a document through LibreTranslate's file API (the document worker)
        answer = requests.post(server + "/translate_file", data={"source": "zz", "target": "xx"},
                               files={"file": ("story.txt",
                                               b"katze hund sonne\n\nrot fisch vogel\n")},
                               timeout=120)
        assert answer.status_code == 200, answer.text
        translated = requests.get(answer.json()["translatedFileUrl"], timeout=60)
        assert translated.text == "cat dog sun\n\nred fish bird\n"
        # source=auto: the detected language's direction of the multilingual model
        codes = {code: set(REAL_CODES.values()) - {code} for code in REAL_CODES.values()}
        assert {code: languages.get(code) for code in codes} == codes
        for text, detected, target in (("katze hund sonne mond baum", "de", "en"),
                                       ("rojo azul gato perro sol luna", "es", "de")):
            answer = _post(server + "/translate", {"q": text, "source": "auto",
                                                   "target": target})
            assert answer["detectedLanguage"]["language"] == detected, answer
            assert answer["translatedText"] == client.translate(text, detected, target)
            assert client.detect(text)[0]["language"] == detected
        refused = requests.post(server + "/translate", json={
            "q": "Le chat noir dort sur le canapé du salon.", "source": "auto",
            "target": "en"}, timeout=60)
        assert refused.status_code == 400 and "French" in refused.json()["error"]
        # the status page: every direction served directly, none pivoted
        with urllib.request.urlopen(server + "/status", timeout=60) as r:
            status = r.read().decode()
        assert status.count('data-label="Model">direct') == 2 * len(DIRECTIONS)
        assert status.count("direct, multilingual model") == 2 * len(DIRECTIONS) - 1
        assert status.count("direct, pair model") == 1  # xx-yy: the pair's own model
        # each worker lists the multilingual checkpoint once, with the directions it serves
        rows = status.count('data-label="Worker"')
        assert rows >= 1 and status.count(f'<span class="path">{multi}</span>: ') == rows
        assert "through" not in status.split('class="stack languages"')[1].split("</table>")[0]
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    # one model in memory per worker process, not one per direction
    loads = re.findall(rf"pid=(\d+) .*msg='loaded {re.escape(str(multi))} ", output)
    assert loads and len(loads) == len(set(loads)), output
    assert "Traceback" not in output


def test_a_multilingual_checkpoint_is_evaluated_in_the_chosen_direction(multilingual_run,
                                                                        client, job_store):
    """The evaluation queue scores a multilingual checkpoint (listed from CHECKPOINT_DIRS) in
    the direction `pair` names; without one it fails with a clear error, not a crash."""
    from helpers import wait_for_job

    name = f"{multilingual_run['dir'].name}/best.pt"
    sentences = [three_way(words.split()) for words in (
        "cat dog sun tree fish", "red bird moon star rock leaf", "blue fish cat dog sun")]
    body = {"checkpoint": name, "beam_size": 2,
            "source": "".join(s["zz"] + "\n" for s in sentences),
            "reference": "".join(s["xx"] + "\n" for s in sentences)}
    answer = client.post("/api/v1/evaluations", json={**body, "pair": "zz-xx"})
    assert answer.status_code == 202, answer.get_json()
    job = wait_for_job(job_store, answer.get_json()["id"], timeout=120)
    assert job["status"] == "done", job
    assert job["pair"] == "zz-xx"
    assert job_store.get_result(job["id"])["hypotheses"] == [s["xx"] for s in sentences]
    assert job["scores"]["bleu"] == pytest.approx(100)
    missing = client.post("/api/v1/evaluations", json=body)
    assert missing.status_code == 202
    failed = wait_for_job(job_store, missing.get_json()["id"], timeout=120)
    assert failed["status"] == "failed"
    assert "choose the pair" in failed["error"] and "Traceback" not in failed["error"]


def test_a_worker_holds_the_multilingual_model_once_and_batches_its_directions(
        multilingual_run, trained_run, tmp_path):
    """Every direction a view of one model (MAX_MODELS=1 is enough for all of them); a
    micro-batch of several directions decodes together, and a pair whose model cannot load
    fails its own items only."""
    from types import SimpleNamespace

    from worker.runtime import WorkerState
    from worker.settings import Settings

    multi = multilingual_run["dir"] / "best.pt"
    missing = tmp_path / "missing.pt"
    settings = Settings.from_env({"MODELS": f"{multi},aa-bb={missing}", "MAX_MODELS": "1",
                                  "PRECISION": "fp32", "TORCH_THREADS": "1"}, dotenv=None)
    state = WorkerState(SimpleNamespace(settings=settings))
    views = [state.translator_for(d) for d in DIRECTIONS]
    assert len(state._models) == 1 and all(v.model is views[0].model for v in views)
    assert [(v.src_lang, v.tgt_lang) for v in views] == [tuple(d.split("-")) for d in DIRECTIONS]
    out = state._run_batch((str(multi), 2, 1), [("zz-xx", "katze hund"), ("xx-zz", "cat sun"),
                                                ("aa-bb", "anything")])
    assert [o.text for o in out[:2]] == ["cat dog", "katze sonne"]
    assert all(0 < o.confidence <= 1 for o in out[:2])
    assert isinstance(out[2], Exception) and "missing.pt" in str(out[2])


def test_the_checkpoints_page_offers_a_multilingual_runs_directions(multilingual_run, client):
    page = client.get("/checkpoints").get_data(as_text=True)
    run = multilingual_run["dir"].name
    section = page.split(f"Training run {run}")[1].split("Training run")[0]
    assert '<select name="pair">' in section
    assert [f"<option>{d}</option>" in section for d in DIRECTIONS] == [True] * len(DIRECTIONS)
    others = [part for part in page.split("Training run")[1:]  # the tiny reverse model's
              if not part.startswith(" multilingual_run")]
    assert others and all('name="pair"' not in part.split("</form>")[0] for part in others)


def test_concurrent_requests_of_several_directions_share_one_micro_batch(multilingual_run,
                                                                         trained_run,
                                                                         monkeypatch):
    """translate_batched keys a multilingual model's requests by the model: requests of
    different directions arriving within the batch window are decoded in one batch (a pair
    model's are keyed by its pair), and each gets its own direction's translation."""
    import threading
    from types import SimpleNamespace

    from worker.runtime import WorkerState, model_key
    from worker.settings import Settings

    multi = str(multilingual_run["dir"] / "best.pt")
    settings = Settings.from_env({"MODELS": f"{multi},xx-yy={trained_run['dir'] / 'best.pt'}",
                                  "PRECISION": "fp32", "TORCH_THREADS": "1",
                                  "BATCH_WINDOW_MS": "1000"}, dotenv=None)
    state = WorkerState(SimpleNamespace(settings=settings))
    monkeypatch.setattr(sys, "setswitchinterval", lambda interval: None)  # the process's own
    batches: list[tuple] = []
    run_batch = state._run_batch
    state._run_batch = lambda key, items: (batches.append((key, list(items))),
                                           run_batch(key, items))[1]
    state.translator_for("zz-xx")  # loaded first: the window is not spent loading it
    asks = [("zz-xx", "katze hund"), ("xx-zz", "cat sun"), ("yy-xx", "perro gato"),
            ("xx-yy", "red cat")]
    answers: dict[str, str] = {}
    start = threading.Barrier(len(asks))

    def ask(direction: str, text: str) -> None:
        start.wait()
        answers[direction] = state.translate_batched(direction, 2, 1, [text])[0].text

    threads = [threading.Thread(target=ask, args=a) for a in asks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request never came back"
    reverse = Translator.from_checkpoint(trained_run["dir"] / "best.pt")  # xx-yy's own model
    assert answers == {"zz-xx": "cat dog", "xx-zz": "katze sonne", "yy-xx": "cat dog",
                       "xx-yy": reverse.translate(["red cat"], beam_size=2)[0]}
    shared = [items for key, items in batches if key == (model_key(multi), 2, 1)]
    assert sorted(d for items in shared for d, _ in items) == ["xx-zz", "yy-xx", "zz-xx"]
    assert len(shared) == 1  # the three directions decoded together
    assert [key for key, _ in batches if key[0] == "xx-yy"] == [("xx-yy", 2, 1)]
