"""The evaluation workbench's routes: two evaluations (or a baseline and several) compared
sentence by sentence, as a page (`/compare`) and as JSON (`/api/v1/compare`), the analysis
charts (`/compare/chart/<name>.png`), and the exports of a comparison
(`/compare/export.<csv|json|tex>`) and of a leaderboard board (`/checkpoints/export.<fmt>`).

Every figure is computed once on the evaluation queue (`Intake.comparison` queues it and
answers "pending" until it is there); these views only read, sort, filter and page it
(web/workbench.py). Who may see what is decided here, as everywhere, by web/access.py: every
evaluation compared must be visible to the caller, else 404, as for any job.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, g, jsonify, render_template, request, url_for

from translator.evaluation import export
from worker.errors import InputError, JobStateError
from worker.leaderboard import leaderboard
from worker.records import Kind, Status

from . import workbench
from .access import check_api_key, comparison_limited, listed, visible_job
from .downloads import attachment
from .extensions import intake

bp = Blueprint("compare", __name__)
"""The pages: /compare, its charts and exports, and the leaderboard's exports."""
api = Blueprint("compare_api", __name__)
"""The JSON API's /compare (registered under /api/v1 with the API's key check and without
CSRF, like web/api.py's blueprint)."""

REFRESH_SECONDS = 2
EXPORTS = {"csv": "text/csv; charset=utf-8", "json": "application/json",
           "tex": "application/x-tex; charset=utf-8"}
CHARTS = ("by_source_length", "by_length_ratio", "word_f_by_frequency")
"""translator/evaluation/charts.py's CHARTS (not imported here: matplotlib loads on the first
chart, not with the app)."""


@api.before_request
def _require_api_key() -> None:
    check_api_key()


def evaluation(job_id: str):
    """The evaluation if the caller may see it (404 otherwise) and it is done (InputError
    saying what it is otherwise)."""
    job = visible_job(job_id)
    if job.kind != Kind.EVALUATION:
        raise InputError(f"job {job.id} is a {job.kind} job, not an evaluation: only "
                         f"evaluations are compared")
    if job.status != Status.DONE:
        raise InputError(f"evaluation {job.id} is {job.status}: it can be compared once it "
                         f"is done")
    return job


def comparison(query: workbench.Query) -> dict:
    """The worker's answer for the query's evaluations: {"status": "pending"|"failed"|"done",
    ...}, once each is known to be visible and done."""
    for job_id in (query.baseline, *query.systems):
        evaluation(job_id)
    result = intake().comparison(query.baseline, list(query.systems))
    g.queued_comparison = result.pop("queued", False)  # counted by `comparison_limited`
    return result


def done_comparison(query: workbench.Query) -> dict:
    """The computed comparison; 409 while it is being computed, 422 if it failed."""
    result = comparison(query)
    if result.get("status") == "pending":
        raise JobStateError("the comparison is still being computed: try again in a moment")
    if result.get("status") != "done":
        raise InputError(f"these evaluations cannot be compared: {result.get('error')}")
    return result


# ------------------------------------------------------------------ the page
@bp.get("/compare")
@comparison_limited
def page():
    query = workbench.parse_query(request.args)
    result = comparison(query)
    status = result.get("status")
    if status == "pending":
        response = Response(render_template("compare.html", state="pending", query=query,
                                            refresh=REFRESH_SECONDS), status=202)
        response.headers["Refresh"] = str(REFRESH_SECONDS)
        return response
    if status != "done":
        return render_template("compare.html", state="failed", query=query,
                               error=result.get("error") or "the comparison failed"), 422
    return render_template("compare.html", state="done", query=query, links=links(query),
                           charts=[c for c in CHARTS if c in (result.get("analysis") or {})],
                           **workbench.view(result, query))


def links(query: workbench.Query) -> dict:
    """The page's links: exports, charts and the API, for the same evaluations."""
    ids = {"baseline": query.baseline, "system": list(query.systems)}
    return {"exports": {fmt: url_for("compare.export", fmt=fmt, **ids) for fmt in EXPORTS},
            "charts": {name: url_for("compare.chart", name=name, **ids) for name in CHARTS},
            "api": url_for("compare_api.compare", **query.args())}


# ------------------------------------------------------------------ the API
@api.get("/compare")
@comparison_limited
def compare():
    """{"status": "done", the summary, "analysis", "segments" (this page's), "matching",
    "page", "pages"}; 202 {"status": "pending"} while it is being computed."""
    query = workbench.parse_query(request.args)
    result = comparison(query)
    status = result.get("status")
    if status == "pending":
        response = jsonify({"status": "pending", "retry_after": REFRESH_SECONDS})
        response.status_code = 202
        response.headers["Retry-After"] = str(REFRESH_SECONDS)
        return response
    if status != "done":
        raise InputError(f"these evaluations cannot be compared: {result.get('error')}")
    shown = workbench.view(result, query)
    return jsonify({
        "status": "done", "baseline": query.baseline, "systems": list(query.systems),
        "vs": query.system, "ids": shown["ids"], "names": shown["names"], "test": shown["test"],
        "total": shown["total"], "summary": shown["summary"], "signatures": shown["signatures"],
        "analysis": shown["analysis"], "sort": query.sort, "q": query.q,
        "segments": [workbench.api_segment(r) for r in shown["segments"]],
        "matching": shown["matching"], "page": shown["page"], "per_page": query.per_page,
        "pages": shown["pages"], "seconds": shown["seconds"],
        "links": {"page": url_for("compare.page", **query.args()),
                  **links(query)["exports"]}})


# ------------------------------------------------------------------ charts and exports
@bp.get("/compare/chart/<name>.png")
@comparison_limited
def chart(name: str):
    if name not in CHARTS:
        abort(404, "no such chart")
    result = done_comparison(workbench.parse_query(request.args))
    from translator.evaluation.charts import chart as draw  # matplotlib: on first use only

    analysis = result.get("analysis") or {}
    if name not in analysis:
        abort(404, "this comparison has no such analysis (no sources: no lengths)")
    return Response(draw(name, analysis, result["names"]), mimetype="image/png",
                    headers={"Cache-Control": "max-age=60"})


@bp.get("/compare/export.<fmt>", endpoint="export")
@comparison_limited
def export_comparison(fmt: str):
    if fmt not in EXPORTS:
        abort(404, "exports are csv, json or tex")
    query = workbench.parse_query(request.args)
    result = done_comparison(query)
    rows = workbench.comparison_rows(result)
    title = f"{result['names'][0]} vs " + ", ".join(result["names"][1:])
    name = f"comparison-{safe_name(query.baseline[:8])}-{safe_name(query.systems[0][:8])}"
    about = {"title": title, "test": result.get("test"), "segments": len(result["hypotheses"][0]),
             "baseline": query.baseline, "systems": list(query.systems)}
    return download(fmt, name, rows, about, caption=title, test=result.get("test"))



@bp.get("/checkpoints/export.<fmt>")
def export_board(fmt: str):
    """A leaderboard board as shown to the caller (only the evaluations it may see, tested
    against the page's `baseline` where it is one of them)."""
    if fmt not in EXPORTS:
        abort(404, "exports are csv, json or tex")
    key = request.args.get("board") or ""
    if not key:
        raise InputError("give the board to export: ?board=KEY (the leaderboard's links "
                         "have it)")
    boards = leaderboard(intake(), listed, request.args.get("baseline") or None)
    board = next((b for b in boards if board_key(b) == key), None)
    if board is None:
        abort(404, "no such board (or none of its evaluations is yours to see)")
    title = board.get("title") or key
    about = {"board": key, "title": title, "tests": board.get("tests")}
    return download(fmt, f"leaderboard-{safe_name(key)}", workbench.board_rows(board), about,
                    caption=title)


def board_key(board: dict) -> str:
    return str(board.get("key") or board.get("testset") or "")


def safe_name(text: str) -> str:
    """A file name's part: letters, digits, `.`, `_` and `-` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:60] or "export"


def download(fmt: str, name: str, rows: list[dict], about: dict, caption: str = "",
             test: str | None = None) -> Response:
    if fmt == "csv":
        data = export.summary_csv(rows)
    elif fmt == "json":
        data = export.summary_json(rows, **about)
    else:
        data = export.summary_latex(rows, caption=caption, test=test)
    return attachment(data.encode("utf-8"), f"{name}.{fmt}", EXPORTS[fmt])
