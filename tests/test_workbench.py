"""The evaluation workbench on the queue (real Redis, real Celery workers): uploaded systems
scored with sacreBLEU's intervals (equal to its command line), several references, boards by
reference, comparisons computed once on the evaluation queue, bad input refused with nothing
stored, retention and deletion."""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import PAIR, SRC, TGT, wait_for_job
from translator.evaluation.significance import paired_test
from worker.errors import InputError, JobStateError
from worker.leaderboard import leaderboard
from worker.store import keys

TESTSET = "test_2016_flickr"


def test_lines(reverse_corpus, lang: str = TGT) -> list[str]:
    return (reverse_corpus / f"{TESTSET}.{lang}").read_text().splitlines()


test_lines.__test__ = False  # a helper, not a test


def degraded(lines: list[str], every: int) -> list[str]:
    """A worse system: every `every`-th line loses its last word."""
    return [" ".join(line.split()[:-1]) if i % every == 0 else line
            for i, line in enumerate(lines)]


def wait_comparison(intake, ids: list[str], detail: bool = True, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (answer := intake.comparison(ids[0], ids[1:], detail))["status"] == "pending":
        assert time.monotonic() < deadline, "the comparison was never computed"
        time.sleep(0.2)
    return answer


def nmt_keys(job_store) -> set[str]:
    return {k.decode() for k in job_store.redis.scan_iter("nmt:*")}


def stored_state(job_store) -> tuple[list, list, set[str]]:
    """What a submission stores: the jobs' and evaluations' indexes, and every job id that
    names a key (keys of earlier jobs finishing meanwhile, or the workers' own, don't count)."""
    redis = job_store.redis
    ids = {k.split(":")[2] for k in nmt_keys(job_store) if k.startswith("nmt:job:")}
    return redis.zrange(keys.JOBS, 0, -1), redis.zrange(keys.EVALUATIONS, 0, -1), ids


def test_an_uploaded_system_is_scored_with_sacrebleus_intervals(intake, job_store,
                                                                reverse_corpus, tmp_path):
    from tests.test_significance import run_sacrebleu

    refs = test_lines(reverse_corpus)
    hyps = degraded(refs, 3)
    job = intake.submit_evaluation(hypotheses="\n".join(hyps) + "\n", system="<b>mine</b>",
                                   pair=PAIR, testset=TESTSET)
    record = wait_for_job(job_store, job.id, timeout=120)
    assert record["status"] == "done", record.get("error")
    assert record["system"] == "<b>mine</b>" and record["pair"] == PAIR
    (tmp_path / "ref").write_text("\n".join(refs) + "\n")
    (tmp_path / "hyp").write_text("\n".join(hyps) + "\n")
    cli = json.loads(run_sacrebleu(str(tmp_path / "ref"), "-i", str(tmp_path / "hyp"),
                                   "--confidence"))
    scores = record["scores"]
    for key, entry in zip(("bleu", "chrf", "ter"), cli):
        assert scores[key] == pytest.approx(entry["score"], abs=1e-4)
        assert scores["intervals"][key]["mean"] == pytest.approx(entry["confidence_mean"],
                                                                 abs=1e-4)
        assert scores["intervals"][key]["ci"] == pytest.approx(entry["confidence_var"],
                                                               abs=1e-4)
    result = job_store.get_result(job.id)
    assert result["hypotheses"] == hyps and result["references"] == refs
    assert result["sources"] == test_lines(reverse_corpus, SRC)
    assert len(result["segments"]) == len(refs) and result["confidence"] is None
    perfect = [s for s, h, r in zip(result["segments"], hyps, refs) if h == r]
    assert perfect and all(s["chrf"] == pytest.approx(100) for s in perfect)


def test_several_references_score_as_sacrebleu_takes_them(intake, job_store):
    refs = [["a red cat sits", "the dog runs"], ["one red cat sits", "a dog runs"]]
    hyps = ["a red cat sits", "a dog runs"]
    job = intake.submit_evaluation(hypotheses="\n".join(hyps), system="two",
                                   reference=["\n".join(r) for r in refs])
    record = wait_for_job(job_store, job.id, timeout=120)
    assert record["status"] == "done", record.get("error")
    from translator.evaluation.metrics import score_streams

    expected = score_streams(hyps, refs)
    assert record["references"] == 2 and record["testset"] == "upload"
    assert record["scores"]["bleu"] == pytest.approx(expected["bleu"])
    assert record["scores"]["bleu"] == pytest.approx(100.0)  # each line matches one reference
    assert job_store.get_result(job.id)["more_references"] == [refs[1]]


@pytest.mark.parametrize("fields, message", [
    ({"hypotheses": "a\nb\n", "pair": PAIR, "testset": TESTSET}, "where 100 are expected"),
    ({"hypotheses": "", "pair": PAIR, "testset": TESTSET}, "hypotheses: the document is empty"),
    ({"hypotheses": b"\x00\x01binary", "pair": PAIR, "testset": TESTSET}, "binary"),
    ({"hypotheses": "caf\xe9\n".encode("latin-1"), "reference": "cafe\n"}, "not valid UTF-8"),
    ({"hypotheses": "a\n", "pair": PAIR, "testset": "nope"}, "unknown test set 'nope'"),
    ({"hypotheses": "a\n", "testset": TESTSET}, "give the language pair"),
    ({"hypotheses": "a\n", "pair": PAIR, "testset": "../etc"}, "unknown test set"),
    ({"hypotheses": "a\nb\n", "reference": ["a\n", "a\nb\n"]}, "references differ in length"),
    ({"hypotheses": "a\n", "reference": "a\n", "system": ""}, "name the system"),
    ({"hypotheses": "a\n", "reference": "a\n", "system": "x\x1by"}, "name the system"),
    ({"hypotheses": "a\n", "reference": ["a\n"] * 9}, "from 1 to 8 references"),
    ({"hypotheses": "a\n", "reference": "a\n", "source": "a\nb\n"}, "the source has 2 lines"),
])
def test_bad_uploads_are_refused_and_nothing_is_stored(intake, job_store, fields, message):
    before = stored_state(job_store)
    with pytest.raises(InputError) as caught:
        intake.submit_evaluation(**{"system": "mine", **fields})
    assert message in caught.value.message
    if "100" in message:  # the count expected is the test set's
        assert "test set test_2016_flickr" in caught.value.message
    after = stored_state(job_store)
    assert after[:2] == before[:2] and not after[2] - before[2]


def test_a_checkpoint_or_hypotheses_not_both(intake, trained_run):
    name = f"{trained_run['dir'].name}/best.pt"
    with pytest.raises(InputError, match="either a checkpoint or"):
        intake.submit_evaluation(name, hypotheses="a\n", system="x", testset=TESTSET)
    with pytest.raises(InputError, match="either a checkpoint or"):
        intake.submit_evaluation(testset=TESTSET)


def test_comparison_is_computed_once_on_the_queue(intake, job_store, reverse_corpus):
    refs = test_lines(reverse_corpus)
    systems = {"good": degraded(refs, 7), "worse": degraded(refs, 2)}
    jobs = {name: intake.submit_evaluation(hypotheses="\n".join(h), system=name, pair=PAIR,
                                           testset=TESTSET) for name, h in systems.items()}
    for job in jobs.values():
        assert wait_for_job(job_store, job.id, timeout=120)["status"] == "done"
    ids = [jobs["good"].id, jobs["worse"].id]
    first = intake.comparison(ids[0], ids[1:])
    assert first == {"status": "pending", "queued": True}  # queued, nothing computed here
    assert "queued" not in intake.comparison(ids[0], ids[1:])  # claimed: not sent twice
    done = wait_comparison(intake, ids)
    assert done["status"] == "done" and done["names"] == ["good", "worse"]
    expected = paired_test([systems["good"], systems["worse"]], [refs])
    for key in ("bleu", "chrf", "ter"):
        assert done["rows"][1][key]["p_value"] == pytest.approx(expected[1][key]["p_value"])
        assert done["rows"][1][key]["difference"] == pytest.approx(
            expected[1][key]["difference"])
    assert done["references"] == [refs] and done["hypotheses"][1] == systems["worse"]
    assert done["sources"] == test_lines(reverse_corpus, SRC)
    assert len(done["sentence"][0]) == len(refs)
    analysis = done["analysis"]
    assert analysis["by_source_length"]["segments"] and analysis["ngram_differences"]
    assert analysis["frequencies"]["from"] == "the references"
    assert "uploaded systems" in analysis["frequencies"]["reason"]
    # stored: the next request reads it, and no second task is sent
    assert intake.comparison(ids[0], ids[1:]) == done
    assert job_store.redis.ttl(keys.comparison(ids, True)) > job_store.settings.job_ttl



def test_a_comparison_stored_meanwhile_is_not_claimed_again(job_store):
    """The task stores a comparison and deletes its claim in one step: a request that found it
    missing just before must not claim it again (it would be computed a second time, as a CI
    run under load once did)."""
    ids = [keys.new_job_id(), keys.new_job_id()]
    name = keys.comparison(ids, True)
    try:
        assert job_store.claim_comparison(ids, True)  # the request that sends the task
        assert not job_store.claim_comparison(ids, True)  # a concurrent one
        pipe = job_store.redis.pipeline()  # the task's save_comparison, as it writes
        pipe.set(name, json.dumps({"rows": []}), ex=60)
        pipe.delete(name + ":claim")
        pipe.execute()
        assert not job_store.claim_comparison(ids, True)
        assert not job_store.redis.exists(name + ":claim")
    finally:
        job_store.redis.delete(name, name + ":claim")

def test_comparisons_that_cannot_be_made(intake, job_store, reverse_corpus):
    refs = test_lines(reverse_corpus)
    on_test = intake.submit_evaluation(hypotheses="\n".join(refs), system="a", pair=PAIR,
                                       testset=TESTSET)
    other = intake.submit_evaluation(hypotheses="x\ny", system="b", reference="x\nz")
    for job in (on_test, other):
        assert wait_for_job(job_store, job.id, timeout=120)["status"] == "done"
    failed = wait_comparison(intake, [on_test.id, other.id])
    assert failed == {"status": "failed", "error": failed["error"]}
    assert "different references" in failed["error"]
    with pytest.raises(InputError, match="with itself"):
        intake.comparison(on_test.id, [on_test.id])
    with pytest.raises(InputError, match="from 2 to"):
        intake.comparison(on_test.id, [])


def test_a_forged_compare_message_stores_nothing(intake, job_store, celery_client):
    from worker.celery_app import COMPARE_TASK, EVAL_QUEUE

    before = nmt_keys(job_store)
    for args in ([["../x", "y"], True], ["abc", True], [["0" * 32] * 50, False]):
        celery_client.send_task(COMPARE_TASK, args=args, queue=EVAL_QUEUE)
    marker = intake.submit_evaluation(hypotheses="a", system="marker", reference="a")
    assert wait_for_job(job_store, marker.id, timeout=120)["status"] == "done"  # queue drained
    time.sleep(0.5)
    assert not [k for k in nmt_keys(job_store) - before if k.startswith("nmt:comparison")]


def test_boards_by_reference_and_their_tests_on_the_queue(intake, job_store):
    refs = "a red cat sits\nthe dog runs\ntwo birds fly\n"
    ids = [intake.submit_evaluation(hypotheses=h, system=name, reference=refs).id
           for name, h in (("A", refs), ("B", "a red cat\nthe dog runs\nbirds fly\n"))]
    for job_id in ids:
        assert wait_for_job(job_store, job_id, timeout=120)["status"] == "done"
    mine = {ids[0], ids[1]}

    def board():
        boards = leaderboard(intake, lambda job: job.id in mine)
        assert len(boards) == 1
        return boards[0]

    first = board()
    assert first["title"].startswith("uploaded reference ")
    assert [r["name"] for r in first["rows"]] == ["A", "B"] and first["baseline"] == ids[0]
    deadline = time.monotonic() + 120
    while (b := board())["tests"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert b["tests"] == "done" and b["rows"][1]["p_values"]["bleu"] is not None
    assert b["rows"][1]["difference"]["bleu"]["mean"] < 0
    chosen = leaderboard(intake, lambda job: job.id in mine, baseline=ids[1])[0]
    assert chosen["baseline"] == ids[1]


def test_retention_and_deletion_by_the_owner(intake, job_store):
    job = intake.submit_evaluation(hypotheses="a b\n", system="gone", reference="a b\n")
    other = intake.submit_evaluation(hypotheses="a c\n", system="stays", reference="a b\n")
    for j in (job, other):
        assert wait_for_job(job_store, j.id, timeout=120)["status"] == "done"
    settings = job_store.settings
    for name in (keys.job(job.id), keys.job(job.id, "result"), keys.job(job.id, "hypotheses")):
        assert settings.job_ttl < job_store.redis.ttl(name) <= settings.evaluation_ttl
    assert wait_comparison(intake, [job.id, other.id])["status"] == "done"
    intake.delete_evaluation(job.id)
    left = [k for k in nmt_keys(job_store) if job.id in k]
    assert not left
    assert job_store.get_job(job.id) is None
    assert job.id.encode() not in job_store.redis.zrange(keys.EVALUATIONS, 0, -1)
    assert job_store.comparison([job.id, other.id], True) is None  # derived data goes too
    assert job_store.get_job(other.id) is not None


def test_an_unfinished_evaluation_is_not_deleted(intake, job_store):
    from worker.records import Kind

    queued = job_store.create(Kind.EVALUATION, PAIR, system="queued", testset="upload")
    with pytest.raises(JobStateError, match="cancel it first"):
        intake.delete_evaluation(queued.id)
    text = job_store.create(Kind.TEXT, PAIR)
    with pytest.raises(InputError, match="only evaluations"):
        intake.delete_evaluation(text.id)
    for job in (queued, text):  # not left for the recovery sweep
        job_store.fail(job.id, "test over")


def test_lines_are_split_at_newlines_only(intake, job_store):
    refs = "a line\u2028with a separator\r\nsecond\n"  # two lines, as sacreBLEU reads them
    job = intake.submit_evaluation(hypotheses="a line\u2028with a separator\nsecond",
                                   system="two lines", reference=refs)
    assert wait_for_job(job_store, job.id, timeout=120)["status"] == "done"
    assert job_store.get_result(job.id)["references"] == ["a line\u2028with a separator",
                                                          "second"]
    with pytest.raises(InputError, match="must be a language pair"):
        intake.submit_evaluation(hypotheses="a\n", system="x", reference="a\n", pair="x" * 50)


def test_a_board_of_many_rows_tests_the_best_twenty(intake, job_store):
    refs = "a red cat sits\nthe dog runs\n"
    ids = [intake.submit_evaluation(hypotheses=f"a red cat sits\nthe dog {'x ' * i}runs\n",
                                    system=f"s{i:02d}", reference=refs).id for i in range(22)]
    for job_id in ids:
        assert wait_for_job(job_store, job_id, timeout=120)["status"] == "done"
    mine = set(ids)
    deadline = time.monotonic() + 180
    while (board := leaderboard(intake, lambda job: job.id in mine)[0])["tests"] == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert board["tests"] == "done" and len(board["rows"]) == 22
    tested = [r for r in board["rows"][1:] if r["p_values"]]
    assert len(tested) == 19 and board["rows"][-1]["p_values"] is None  # the rest untested


def test_named_test_set_boards_are_per_pair():
    from worker.leaderboard import board_key
    from worker.records import Job, Kind, Status

    def job(pair, testset="test_2016_flickr"):
        return Job(id="0" * 32, kind=Kind.EVALUATION, status=Status.DONE, pair=pair,
                   created=0, testset=testset, reference_hash="abc")

    assert board_key(job("de-en")) != board_key(job("fr-en"))  # one English reference file
    assert board_key(job("de-en", "upload")) == board_key(job("", "upload"))


def test_a_long_chain_of_pluses_is_refused_at_once():
    from worker.checks import listed_members

    known = {"run/best.pt": "/x/best.pt", "a+b (best.pt)": "/y"}
    assert listed_members(known, "+" * 40_000) is None
    assert listed_members(known, "run/best.pt+a+b (best.pt)") == ["run/best.pt",
                                                                   "a+b (best.pt)"]


def test_only_the_owner_deletes_even_without_keys(client, web_app, job_store):
    answer = client.post("/api/v1/evaluations", json={
        "system": "mine", "hypotheses": "a b\n", "reference": "a b\n"})
    assert answer.status_code == 202
    job_id = answer.get_json()["id"]
    assert wait_for_job(job_store, job_id, timeout=120)["status"] == "done"
    stranger = web_app.test_client()  # another session: the id alone is not enough
    assert stranger.delete(f"/api/v1/evaluations/{job_id}").status_code == 404
    assert client.delete(f"/api/v1/evaluations/{job_id}").status_code == 200
    assert job_store.get_job(job_id) is None
