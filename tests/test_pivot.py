"""Pivoting through English (PIVOT_LANGUAGE): a pair without a model runs as one job of two
steps on the two pairs' queues. The test workers serve ww-en and en-vv with the same
reverse-the-words model, so ww-vv through English comes back as its source: a step skipped,
run twice or fed the wrong sentences would show."""

from __future__ import annotations

import pytest
from helpers import make_document, wait_for_job

from worker.errors import InputError


def test_a_pair_without_a_model_is_routed_through_english(queue_settings):
    assert queue_settings.route("ww-vv") == ["ww-en", "en-vv"]
    assert queue_settings.route("ww-en") == ["ww-en"]
    assert queue_settings.route("vv-ww") is None  # no vv-en, no en-ww
    assert queue_settings.reachable()["ww"] == {"en": None, "vv": "en"}


def test_a_pivoted_text_job_runs_both_steps(intake, job_store):
    texts = ["red blue cat dog", "sun moon tree\nfish bird star"]
    job = intake.submit_text(texts, "ww-vv")
    assert job.pivot == "en" and "+" in job.model
    done = wait_for_job(job_store, job.id)
    assert done["status"] == "done", done
    result = job_store.get_result(job.id)
    assert [" ".join(t.split()) for t in result["translations"]] == \
        [" ".join(t.split()) for t in texts]
    assert result["pivot"]["via"] == "en"
    assert result["pivot"]["translations"][0] == "dog cat blue red"
    assert all(0 <= c <= 1 for c in result["sentence_confidence"])


def test_a_pivoted_document_keeps_its_sentences_and_order(intake, job_store):
    document = make_document(25, seed=3)  # several chunks (CHUNK_SENTENCES=10)
    job = intake.submit_document(document, "ww-vv")
    done = wait_for_job(job_store, job.id, timeout=120)
    assert done["status"] == "done", done
    assert done["progress"] == 1.0
    result = job_store.get_result(job.id)
    sources = [s for s, _ in result["sentences"]]
    assert [t.split() for _, t in result["sentences"]] == [s.split() for s in sources]


def test_a_pivoted_html_document_places_tags_through_both_alignments(intake, job_store):
    page = "<p>red <b>blue</b> cat dog</p>"
    job = intake.submit_document(page, "ww-vv", filename="page.html")
    assert wait_for_job(job_store, job.id)["status"] == "done"
    out = job_store.get_output(job.id).decode()
    assert "<b>blue</b>" in out, out


def test_no_route_names_what_is_served(intake):
    with pytest.raises(InputError) as info:
        intake.submit_text("red", "vv-ww")
    assert "ww to en, vv" in str(info.value)
