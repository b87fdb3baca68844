"""The evaluation workbench's web side (web/compare.py, web/workbench.py, the leaderboard's
board table): the comparison's view logic (sorting, filtering, paging, word differences placed
and escaped), the exports (CSV, JSON, LaTeX), the charts, and the routes.

The first part needs no Redis: a comparison document is built with the library
(`comparison.compare`, as the evaluation queue builds it) and served through the real app with
the intake and the visibility check replaced; tests/test_compare_end_to_end.py runs the same
routes on the suite's real Redis and Celery workers."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from helpers import PAIR

import web.compare
from translator.evaluation import export
from translator.evaluation.comparison import compare
from translator.evaluation.sentences import correlations, sentence_scores
from web import create_app, workbench
from worker.errors import InputError, JobNotFound
from worker.records import Job, Kind, Status
from worker.settings import Settings

XSS = "<script>alert('x')</script>"
BASE_ID, SYS_ID, OTHER_ID = "a" * 32, "b" * 32, "c" * 32
PNG = b"\x89PNG\r\n\x1a\n"
COLOURS = ["red", "blue", "big", "small", "old", "young"]


def comparison_doc(names=("base", "sys"), outputs=None, sources=True) -> dict:
    """A comparison document of the shape `Intake.comparison` answers when done, computed by
    the library on six segments."""
    refs = [[f"the dog {w} runs in the park ." for w in COLOURS]]
    base = [f"a dog {w} runs in park ." for w in COLOURS]
    other = outputs or [f"the dog {w} is running in the park ." for w in COLOURS]
    systems = [base, other]
    srcs = [f"der Hund {w} läuft im Park ." for w in COLOURS] if sources else None
    doc = compare(list(names), systems, refs, sources=srcs)
    sentence = [sentence_scores(h, refs) for h in systems]
    for i, s in enumerate(sentence[1]):
        s["confidence"] = 0.5 + 0.05 * i
    pearson, spearman = correlations([s["confidence"] for s in sentence[1]],
                                     [s["chrf"] for s in sentence[1]])
    doc.update({"ids": [BASE_ID, SYS_ID], "names": list(names), "sources": srcs,
                "references": refs, "hypotheses": systems, "sentence": sentence,
                "confidence": [None, {"pearson": pearson, "spearman": spearman,
                                      "segments": len(refs[0])}],
                "signatures": doc["rows"][0]["signatures"]})
    return doc


@pytest.fixture(scope="module")
def doc() -> dict:
    return comparison_doc()


@pytest.fixture(scope="module")
def xss_doc() -> dict:
    return comparison_doc(names=("a_b & c", XSS),
                          outputs=[f"the dog {w} runs {XSS} ." for w in COLOURS])


# ------------------------------------------------------------------ the view logic
def args(**values):
    from werkzeug.datastructures import MultiDict

    return MultiDict([(k, v) for k, vs in values.items()
                      for v in (vs if isinstance(vs, list) else [vs])])


def test_queries_are_checked():
    query = workbench.parse_query(args(baseline=BASE_ID, system=[SYS_ID, SYS_ID, OTHER_ID],
                                       per_page="1000", page="0", vs="9"))
    assert query.systems == (SYS_ID, OTHER_ID) and query.per_page == workbench.MAX_PER_PAGE
    assert query.page == 1 and query.vs == 2 and query.system == OTHER_ID
    assert query.args() == {"baseline": BASE_ID, "system": [SYS_ID, OTHER_ID], "vs": 2,
                            "per_page": 200}
    for bad, needle in ((args(baseline=BASE_ID), "baseline=ID&system=ID"),
                        (args(baseline=BASE_ID, system=BASE_ID), "the same evaluation"),
                        (args(baseline=BASE_ID, system=SYS_ID, sort="up"), "`sort`"),
                        (args(baseline=BASE_ID, system=SYS_ID, page="x"), "whole number")):
        with pytest.raises(InputError, match=needle.replace("?", r"\?")):
            workbench.parse_query(bad)


def test_segments_sort_filter_and_page(doc):
    rows = workbench.segment_rows(doc)
    assert [r["index"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["references"] == ["the dog red runs in the park ."]
    assert rows[0]["system"]["confidence"] == 0.5 and rows[0]["baseline"]["confidence"] is None
    assert rows[0]["diff"] == pytest.approx(rows[0]["system"]["chrf"]
                                            - rows[0]["baseline"]["chrf"])
    rising = workbench.select(rows, "diff")
    assert [r["diff"] for r in rising] == sorted(r["diff"] for r in rows)
    falling = workbench.select(rows, "-diff")
    assert [r["diff"] for r in falling] == sorted((r["diff"] for r in rows), reverse=True)
    # every word, case-insensitive, in the source, a reference or either output
    assert [r["index"] for r in workbench.select(rows, q="HUND blue")] == [2]
    assert [r["index"] for r in workbench.select(rows, q="running Old")] == [5]
    assert workbench.select(rows, q="blue old") == []
    assert len(workbench.select(rows, q="  ")) == 6
    page, number, pages = workbench.paged(rows, 2, 4)
    assert [r["index"] for r in page] == [5, 6] and (number, pages) == (2, 2)
    assert workbench.paged(rows, 9, 4)[1] == 2  # past the end: the last page


def test_word_differences_are_placed_on_the_output_text():
    row = {"baseline": {"output": "A dog, running."}, "system": {"output": "A cat, running."},
           "references": ["A cat is running."]}
    shown = workbench.with_words(row)
    assert shown["spans"]["system"] == [{"text": "A ", "mark": ""},
                                        {"text": "cat", "mark": "confirmed"},
                                        {"text": ", running.", "mark": ""}]
    assert {"text": "dog", "mark": "unconfirmed"} in shown["spans"]["baseline"]
    assert shown["words"]["system"][1] == {"word": "cat", "only": True, "in_reference": True}
    # where the tokenizer changed the text, the tokens are shown instead
    assert "".join(s["text"] for s in workbench.spans("a &quot;b&quot;", [
        {"word": "a", "only": False, "in_reference": False},
        {"word": '"', "only": True, "in_reference": False}])) == 'a "'


# ------------------------------------------------------------------ exports and charts
def test_exports_of_a_comparison(xss_doc):
    rows = workbench.comparison_rows(xss_doc)
    table = list(csv.DictReader(io.StringIO(export.summary_csv(rows))))
    assert [r["system"] for r in table] == ["a_b & c", XSS] and table[0]["id"] == BASE_ID
    assert table[0]["bleu_p"] == "" and float(table[1]["bleu_p"]) < 0.05
    assert float(table[1]["chrf_diff_low"]) <= float(table[1]["chrf_diff_high"])
    assert table[1]["bleu_signature"].startswith("nrefs:1")
    loaded = json.loads(export.summary_json(rows, title="t"))
    assert loaded["title"] == "t" and loaded["systems"][1]["bleu"]["difference"]["mean"]
    latex = export.summary_latex(rows, caption="a_b & c vs x")
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\end{table}" in latex
    assert r"a\_b \& c" in latex and "a_b & c" not in latex
    assert r"$^\dagger$" in latex and r"\texttt{nrefs:1" in latex
    assert r"\caption{a\_b \& c vs x}" in latex
    header = next(line for line in latex.splitlines() if line.startswith("System"))
    assert header.count("&") + 1 == latex.split(r"\begin{tabular}{")[1].index("}")


def test_charts_are_pngs_readable_at_phone_width(doc):
    from translator.evaluation import charts

    assert charts.CHARTS == web.compare.CHARTS
    for name in charts.CHARTS:
        png = charts.chart(name, doc["analysis"], ["a $x", "b_$ & <c>" * 5])
        assert png[:8] == PNG
        width = int.from_bytes(png[16:20], "big")
        assert 450 <= width <= 800  # scaled to ~360 px on a phone, its text still ~12 px
    with pytest.raises(KeyError):
        charts.chart("nope", doc["analysis"], ["a", "b"])


# ------------------------------------------------------------------ the routes, no Redis
class FakeIntake:
    def __init__(self, answer: dict):
        self.answer, self.calls = answer, []

    def comparison(self, baseline_id, system_ids):
        self.calls.append((baseline_id, list(system_ids)))
        return self.answer


def evaluation(job_id: str, kind=Kind.EVALUATION, status=Status.DONE) -> Job:
    return Job(id=job_id, kind=kind, status=status, pair=PAIR, created=time.time())


@pytest.fixture(scope="module")
def offline_app():
    settings = Settings.from_env({"SECRET_KEY": "offline"}, dotenv=None)
    return create_app({"SETTINGS": settings, "TESTING": True})


@pytest.fixture
def served(offline_app, monkeypatch):
    """The app with the intake answering `answer` and the jobs `jobs` (id -> Job; any other
    id is not found)."""
    jobs = {i: evaluation(i) for i in (BASE_ID, SYS_ID, OTHER_ID)}

    def visible(job_id):
        if job_id not in jobs:
            raise JobNotFound(f"no job {job_id!r}")
        return jobs[job_id]

    def serve(answer: dict):
        fake = FakeIntake(answer)
        monkeypatch.setitem(offline_app.extensions, "intake", fake)
        return offline_app.test_client(), fake

    monkeypatch.setattr(web.compare, "visible_job", visible)
    serve.jobs = jobs
    return serve


QS = f"baseline={BASE_ID}&system={SYS_ID}"


def test_pending_refreshes_itself_and_the_api_answers_202(served):
    client, fake = served({"status": "pending"})
    page = client.get(f"/compare?{QS}")
    html = page.get_data(as_text=True)
    assert page.status_code == 202 and page.headers["Refresh"] == "2"
    assert '<meta http-equiv="refresh" content="2">' in html and "being computed" in html
    answer = client.get(f"/api/v1/compare?{QS}")
    assert answer.status_code == 202 and answer.get_json()["status"] == "pending"
    assert fake.calls == [(BASE_ID, [SYS_ID])] * 2
    assert client.get(f"/compare/export.csv?{QS}").status_code == 409
    assert client.get(f"/compare/chart/by_length_ratio.png?{QS}").status_code == 409


def test_failed_comparisons_say_why(served):
    client, _ = served({"status": "failed", "error": "the references differ <b>"})
    page = client.get(f"/compare?{QS}")
    assert page.status_code == 422
    assert "the references differ &lt;b&gt;" in page.get_data(as_text=True)
    answer = client.get(f"/api/v1/compare?{QS}")
    assert answer.status_code == 422 and "references differ" in answer.get_json()["error"]


def test_what_cannot_be_compared_is_refused(served):
    client, fake = served({"status": "pending"})
    assert client.get(f"/api/v1/compare?baseline={BASE_ID}&system={'d' * 32}"
                      ).status_code == 404
    assert client.get(f"/compare?baseline={'d' * 32}&system={SYS_ID}").status_code == 404
    served.jobs[OTHER_ID] = evaluation(OTHER_ID, kind=Kind.TEXT)
    answer = client.get(f"/api/v1/compare?baseline={BASE_ID}&system={OTHER_ID}")
    assert answer.status_code == 422 and "not an evaluation" in answer.get_json()["error"]
    served.jobs[OTHER_ID] = evaluation(OTHER_ID, status=Status.RUNNING)
    answer = client.get(f"/api/v1/compare?baseline={BASE_ID}&system={OTHER_ID}")
    assert answer.status_code == 422 and "once it is done" in answer.get_json()["error"]
    assert client.get(f"/api/v1/compare?baseline={BASE_ID}").status_code == 422
    assert fake.calls == []  # nothing asked of the worker for any of these


def test_the_done_page_escapes_every_user_text(served, xss_doc):
    client, _ = served({"status": "done", **xss_doc})
    page = client.get(f"/compare?{QS}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert XSS not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "a_b &amp; c" in html
    assert '<mark class="confirmed">' in html and '<mark class="unconfirmed">' in html
    assert "Pearson r =" in html and "Right</strong>: an n-gram is right" in html
    for fmt in ("csv", "json", "tex"):
        assert f"/compare/export.{fmt}?baseline={BASE_ID}&amp;system={SYS_ID}" in html
    assert f"/compare/chart/by_source_length.png?baseline={BASE_ID}" in html
    assert "6 segments" in html


def test_the_done_page_and_api_sort_filter_and_page(served, doc):
    client, _ = served({"status": "done", **doc})
    body = client.get(f"/api/v1/compare?{QS}&sort=-diff&per_page=4").get_json()
    assert body["status"] == "done" and body["matching"] == 6 and body["pages"] == 2
    diffs = [s["diff"] for s in body["segments"]]
    assert len(diffs) == 4 and diffs == sorted(diffs, reverse=True)
    first = body["segments"][0]
    assert set(first) >= {"index", "source", "references", "baseline", "system", "diff",
                          "words"} and "spans" not in first
    assert set(first["system"]) == {"output", "chrf", "bleu", "confidence"}
    assert body["summary"][1]["verdict"]["bleu"] in ("better", "worse", "not significant")
    assert body["summary"][1]["confidence"]["segments"] == 6
    assert set(body["analysis"]) >= {"by_source_length", "ngram_differences", "right_means"}
    assert body["links"]["csv"].startswith("/compare/export.csv")
    filtered = client.get(f"/api/v1/compare?{QS}&q=BIG+park").get_json()
    assert filtered["matching"] == 1 and filtered["segments"][0]["index"] == 3
    html = client.get(f"/compare?{QS}&q=big&per_page=1").get_data(as_text=True)
    assert "1 of 6 segments contain every word" in html
    html = client.get(f"/compare?{QS}&per_page=4&page=2").get_data(as_text=True)
    assert "page 2 of 2" in html and "Previous" in html


def test_charts_and_exports_download(served, doc):
    client, _ = served({"status": "done", **doc})
    for name in web.compare.CHARTS:
        chart = client.get(f"/compare/chart/{name}.png?{QS}")
        assert chart.status_code == 200 and chart.data[:8] == PNG
        assert chart.mimetype == "image/png" and "max-age" in chart.headers["Cache-Control"]
    assert client.get(f"/compare/chart/nope.png?{QS}").status_code == 404
    for fmt, mimetype in (("csv", "text/csv"), ("json", "application/json"),
                          ("tex", "application/x-tex")):
        answer = client.get(f"/compare/export.{fmt}?{QS}")
        assert answer.status_code == 200 and answer.mimetype == mimetype
        assert answer.headers["Content-Disposition"].startswith("attachment")
        assert f"comparison-{BASE_ID[:8]}-{SYS_ID[:8]}.{fmt}" in \
            answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/compare/export.csv?{QS}")
                                           .get_data(as_text=True))))
    assert [r["system"] for r in rows] == ["base", "sys"]
    assert json.loads(client.get(f"/compare/export.json?{QS}").data)["segments"] == 6
    assert client.get(f"/compare/export.xls?{QS}").status_code == 404


def test_a_chart_the_comparison_lacks_is_404(served):
    client, _ = served({"status": "done", **comparison_doc(sources=False)})
    assert client.get(f"/compare/chart/by_source_length.png?{QS}").status_code == 404
    html = client.get(f"/compare?{QS}").get_data(as_text=True)
    assert "No sources were given" in html


def test_the_api_route_is_described():
    from web.openapi import openapi_document

    item = openapi_document()["paths"]["/api/v1/compare"]["get"]
    assert {p["name"] for p in item["parameters"]} >= {"baseline", "system", "sort", "q",
                                                       "page", "per_page"}
    assert {"200", "202", "404"} <= set(item["responses"])


def test_with_keys_the_json_view_is_named_not_linked(served, doc, monkeypatch):
    """The API answers a browser's plain link only with a key (a session needs the page's
    CSRF header, which a link does not send): with API_KEYS the page names the JSON view's
    address for use with a key instead of linking to a 403."""
    import dataclasses

    client, _ = served({"status": "done", **doc})
    html = client.get(f"/compare?{QS}").get_data(as_text=True)
    assert f'<a href="/api/v1/compare?{QS.replace("&", "&amp;")}' in html
    keyed = dataclasses.replace(client.application.extensions["settings"], api_keys="k1")
    monkeypatch.setitem(client.application.extensions, "settings", keyed)
    html = client.get(f"/compare?{QS}", headers={"X-API-Key": "k1"}).get_data(as_text=True)
    assert '<a href="/api/v1/compare' not in html and "with your key (X-API-Key)" in html
    assert client.get(f"/api/v1/compare?{QS}").status_code == 403  # what the link would get
