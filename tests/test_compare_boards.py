"""The leaderboard's boards on the web (web/templates/pages/checkpoints.html and
`/checkpoints/export.<fmt>`): titles, user names escaped, intervals, the test badges, a
compare link per row against the board's baseline (or the one chosen), and the exports of
what the caller sees. Boards of the shape worker/leaderboard.py gives, without Redis."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

import web.compare
from translator.evaluation import export
from web import create_app, workbench
from worker.settings import Settings

XSS = "<script>alert('x')</script>"
BASE_ID, SYS_ID, OTHER_ID = "a" * 32, "b" * 32, "c" * 32


@pytest.fixture(scope="module")
def offline_app():
    settings = Settings.from_env({"SECRET_KEY": "offline"}, dotenv=None)
    return create_app({"SETTINGS": settings, "TESTING": True})


def test_exports_of_a_board_with_and_without_intervals():
    board = {"key": "test_2016_flickr", "title": "test_2016_flickr xx-yy", "rows": [
        {"id": BASE_ID, "model": "run/best.pt", "beam": 5, "alpha": 1.0, "name": "run/best.pt",
         "scores": {"bleu": 30.0, "chrf": 50.0, "ter": 60.0, "signatures": {"bleu": "nrefs:1"},
                    "intervals": {"bleu": {"mean": 30.1, "ci": 1.5}}},
         "p_values": None, "significant": None, "difference": None},
        {"id": SYS_ID, "system": "a_b & c", "scores": {"bleu": 20.0, "chrf": 40.0,
                                                       "ter": 70.0, "signatures": {}},
         "p_values": {"bleu": 0.001, "chrf": 0.2, "ter": 0.01},
         "difference": {"bleu": {"mean": -10.0, "low": -12.0, "high": -8.0}}}]}
    rows = workbench.board_rows(board)
    assert [r["system"] for r in rows] == ["run/best.pt", "a_b & c"]
    table = list(csv.DictReader(io.StringIO(export.summary_csv(rows))))
    assert table[0]["beam"] == "5" and table[0]["bleu_ci95"] == "1.50"
    assert table[0]["alpha"] == "1.0" and table[1]["alpha"] == ""  # the length penalty
    assert table[1]["bleu_diff_low"] == "-12.00" and table[1]["chrf_diff_low"] == ""
    latex = export.summary_latex(rows)
    assert r"30.0 $\pm$ 1.5" in latex and r"20.0$^\dagger$" in latex
    assert r"$-$10.0 [$-$12.0, $-$8.0]" in latex and r"a\_b \& c" in latex


BOARD = {"key": "k-1", "title": "uploaded reference 3fa2c1d0", "tests": "pending",
         "baseline": BASE_ID, "rows": [
    {"id": BASE_ID, "model": "run/best.pt", "name": "run/best.pt", "beam": 5, "finished": 1.0,
     "scores": {"bleu": 31.0, "chrf": 55.0, "ter": 50.0, "signatures": {"bleu": "nrefs:1"},
                "intervals": {k: {"mean": 1.0, "ci": 1.25} for k in ("bleu", "chrf", "ter")}}},
    {"id": SYS_ID, "system": XSS, "name": XSS, "finished": 1.0,
     "scores": {"bleu": 21.0, "chrf": 45.0, "ter": 60.0, "signatures": {"bleu": "nrefs:1"}},
     "p_values": {"bleu": 0.001}, "significant": {"bleu": True}},
    {"id": OTHER_ID, "system": "third", "name": "third", "finished": 1.0,
     "scores": {"bleu": 11.0, "chrf": 35.0, "ter": 70.0, "signatures": {"bleu": "nrefs:1"}},
     "p_values": {"bleu": 0.001}, "significant": {"bleu": True}}]}


def render_board(app, boards, baseline=None) -> str:
    from flask import render_template

    from web.forms import EvaluateForm

    with app.test_request_context("/checkpoints"):
        form = EvaluateForm()
        form.checkpoint.choices = []
        return render_template("checkpoints.html", form=form, known={}, runs={},
                               boards=boards, baseline=baseline)


def test_the_board_table(offline_app):
    html = render_board(offline_app, [BOARD])
    assert "uploaded reference 3fa2c1d0" in html and XSS not in html
    assert "&lt;script&gt;" in html and "± 1.25" in html and "testing…" in html
    # every row against the board's best, with one click
    assert f"/compare?baseline={BASE_ID}&amp;system={SYS_ID}" in html
    assert f"/compare?baseline={BASE_ID}&amp;system={OTHER_ID}" in html
    assert f"/checkpoints?baseline={SYS_ID}" in html
    assert "/checkpoints/export.csv?board=k-1" in html and "/checkpoints/export.tex?board" in html
    # several rows ticked and compared with the baseline at once (a GET form to /compare)
    form = html.split('class="compare-several"')[1].split("</form>")[0]
    assert f'name="baseline" value="{BASE_ID}"' in form
    ticks = re.findall(r'type="checkbox" name="system" value="(\w+)"', form)
    assert ticks == [SYS_ID, OTHER_ID]  # not the baseline
    assert "compare &lt;script&gt;" in form and "Compare the ticked systems" in form
    # a chosen baseline: every other row compared with it, better and worse marked
    rows = [dict(r) for r in BOARD["rows"]]
    rows[0].update(p_values={"bleu": 0.002}, significant={"bleu": True})
    rows[1].update(p_values=None, significant=None)
    rows[2].update(p_values={"bleu": 0.3}, significant={"bleu": False})
    chosen = render_board(offline_app, [{**BOARD, "tests": "done", "baseline": SYS_ID,
                                         "rows": rows}], baseline=SYS_ID)
    assert f"/compare?baseline={SYS_ID}&amp;system={BASE_ID}" in chosen
    assert f"/compare?baseline={SYS_ID}&amp;system={OTHER_ID}" in chosen
    assert f"/compare?baseline={SYS_ID}&amp;system={SYS_ID}" not in chosen
    assert "better<span" in chosen and "n.s.<span" in chosen and "testing…" not in chosen
    assert f"/checkpoints/export.csv?board=k-1&amp;baseline={SYS_ID}" in chosen
    assert 'class="chosen"' in chosen
    assert f'name="baseline" value="{SYS_ID}"' in chosen
    assert re.findall(r'type="checkbox" name="system" value="(\w+)"', chosen) == [BASE_ID, OTHER_ID]
    # the board of today's view (no key, title or names) still renders
    old = {"testset": "test_2016_flickr", "rows": [
        {**BOARD["rows"][0], "name": None}, {**BOARD["rows"][1], "name": None}]}
    html = render_board(offline_app, [old])
    assert "test_2016_flickr" in html and "run/best.pt" in html and "p = 0.001" in html
    assert "worse<span" in html
    assert "compare-several" not in html and "checkbox" not in html  # one row: its link


def test_a_board_exports_only_what_the_caller_sees(offline_app, monkeypatch):
    seen = []

    def fake_leaderboard(intake, visible, baseline=None):
        seen.append((visible, baseline))
        return [BOARD]

    monkeypatch.setattr(web.compare, "leaderboard", fake_leaderboard)
    client = offline_app.test_client()
    answer = client.get("/checkpoints/export.csv?board=k-1")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "leaderboard-k-1.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [r["system"] for r in rows] == ["run/best.pt", XSS, "third"]
    assert seen == [(web.compare.listed, None)]  # the leaderboard's own visibility rule
    client.get(f"/checkpoints/export.csv?board=k-1&baseline={SYS_ID}")
    assert seen[-1] == (web.compare.listed, SYS_ID)
    tex = client.get("/checkpoints/export.tex?board=k-1").get_data(as_text=True)
    assert r"\caption{uploaded reference 3fa2c1d0}" in tex
    assert json.loads(client.get("/checkpoints/export.json?board=k-1").data)["board"] == "k-1"
    assert client.get("/checkpoints/export.csv?board=nope").status_code == 404
    assert client.get("/checkpoints/export.csv").status_code == 422
