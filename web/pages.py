"""Server-rendered pages: translate, documents, jobs, a job, checkpoints, status.

Every page works without JavaScript; static/app.js adds in-place results and live progress.
All text (inputs, translations, file names) reaches the page through Jinja's autoescaping or
`textContent`, never as HTML.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from translator.defaults import LOW_CONFIDENCE, MAX_BEAM, MIN_BEAM
from translator.formats import formats
from worker.errors import InputError, JobStateError, LimitError
from worker.intake import AUTO, known_checkpoints
from worker.records import Kind, Status
from worker.status import online_workers, queue_lengths

from .access import (
    caller,
    cancellable_job,
    job_limited,
    listed,
    listed_owner,
    log_in,
    log_out,
    pages_need_login,
    submitter,
    visible_job,
    visible_result,
)
from .api import model_list, result_text
from .downloads import download_name, file_response, format_label, text_response
from .errors import http_status
from .extensions import (
    celery,
    intake,
    language_name,
    pair_label,
    settings,
    store,
)
from .forms import CancelForm, DocumentForm, EvaluateForm, LoginForm, TranslateForm

bp = Blueprint("pages", __name__, template_folder="templates/pages")
PAGE_SIZE = 20


@bp.app_template_filter("when")
def when(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


@bp.app_template_filter("size")
def size(chars: int | None) -> str:
    if not chars:
        return "—"
    return f"{chars:,} chars" if chars < 10_000 else f"{chars / 1000:,.0f}k chars"


@bp.app_context_processor
def inject() -> dict:
    return {"pair_label": pair_label, "language_name": language_name,
            "limits": settings(), "min_beam": MIN_BEAM,
            "max_beam": MAX_BEAM, "low_confidence": LOW_CONFIDENCE,
            "format_label": format_label, "download_name": download_name}


def language_choices(form) -> None:
    """The source selector (Detect first) and the target selector of a form: every language
    reachable, directly or through the pivot language. The page's script narrows the
    targets to the chosen source's (`data-reachable`)."""
    reachable = settings().reachable()
    targets = sorted({t for ts in reachable.values() for t in ts})
    form.source.choices = [(AUTO, "Detect language")] + [(c, language_name(c))
                                                          for c in reachable]
    form.target.choices = [(c, language_name(c)) for c in targets]
    if not form.is_submitted():
        form.source.data = form.source.data or AUTO
        form.target.data = form.target.data or ("en" if "en" in targets else
                                                (targets[0] if targets else None))


def reachable_json() -> str:
    """{source: [targets]} for the page's script."""
    return json.dumps({src: sorted(ts) for src, ts in settings().reachable().items()})


def form_pair(form) -> str:
    return f"{form.source.data}-{form.target.data}"


# ------------------------------------------------------------------------- keys
OPEN_PAGES = {"pages.login", "pages.logout", "pages.status", "pages.healthz"}


@bp.before_request
def _ask_for_a_key():
    """With API_KEYS (and no OPEN_WEB_FORM), the pages ask for a key once; the status pages
    and the public leaderboard stay open."""
    if request.endpoint in OPEN_PAGES or not pages_need_login():
        return None
    if request.endpoint == "pages.checkpoints" and request.method == "GET":
        return None
    return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        if log_in(form.key.data or ""):
            target = request.args.get("next") or ""
            return redirect(target if _local_path(target) else url_for("pages.translate"))
        error = "this API key is not valid"
    elif request.method == "POST":
        error = "the form has expired; try again"
    return render_template("login.html", form=form, error=error), 403 if error else 200


def _local_path(target: str) -> bool:
    """Only a plain path of this site is a place to go after the login: never an open
    redirect (`//evil`, `/\\evil`, a control character browsers drop)."""
    from urllib.parse import urlsplit

    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ord(ch) < 33 or ch in "\\\x7f" for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.post("/logout")
def logout():
    CancelForm().validate_on_submit() or abort(400, "missing CSRF token")
    log_out()
    return redirect(url_for("pages.login"))


# ------------------------------------------------------------------------- translate
def form_page(form, submit, template: str, context=dict):
    """The shared flow of the job-creating forms: on a valid POST, `submit()` queues the job
    and the browser goes to its page; a form or input error re-renders the page with the
    message (422, or 413 for a size limit). `context()` gives the page's other variables,
    computed only when the page is rendered."""
    error, status = None, 422
    if form.validate_on_submit():
        try:
            job = submit()
            return redirect(url_for("pages.job", job_id=job.id))
        except (InputError, LimitError) as exc:
            error, status = exc.message, http_status(exc)
    elif request.method == "POST":
        error = "; ".join(f"{form[name].label.text}: {', '.join(msgs)}"
                          for name, msgs in form.errors.items())
    return render_template(template, form=form, error=error, **context()), \
        (status if error else 200)


@bp.route("/", methods=["GET", "POST"])
@job_limited
def translate():
    form = TranslateForm()
    language_choices(form)

    def submit():
        reference = form.reference.data.splitlines() if form.reference.data else None
        segments = (form.text.data or "").splitlines() or [""]
        return intake().submit_text(segments, form_pair(form), beam_size=form.beam_size.data,
                                  reference=reference, by=submitter())

    return form_page(form, submit, "translate.html",
                     context=lambda: {"reachable": reachable_json()})


# ------------------------------------------------------------------------- documents
@bp.route("/documents", methods=["GET", "POST"])
@job_limited
def documents():
    form = DocumentForm()
    language_choices(form)

    def submit():
        upload = form.file.data
        data = upload.read() if upload else (form.text.data or "").encode("utf-8")
        ref = form.reference_file.data.read() if form.reference_file.data else None
        return intake().submit_document(data, form_pair(form), beam_size=form.beam_size.data,
                                      reference=ref or None,
                                      filename=upload.filename if upload else None,
                                      retranslate=bool(form.retranslate.data),
                                      by=submitter())

    return form_page(form, submit, "documents.html", context=document_formats)


def document_formats() -> dict:
    """The formats the documents page lists, and its file input's `accept`."""
    listed = list(formats().values())
    accept = ",".join(ext for fmt in listed for ext in fmt.extensions)
    return {"formats": listed, "accept": accept, "reachable": reachable_json()}


# ------------------------------------------------------------------------- jobs
@bp.get("/jobs")
def job_list():
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    items, total = store().list_jobs((page - 1) * PAGE_SIZE, PAGE_SIZE, owner=listed_owner())
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render_template("jobs.html", jobs=items, page=page, pages=pages, total=total,
                           caller=caller())


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    jobs = store()
    record = visible_job(job_id)
    result = jobs.get_result(job_id) if record.status == Status.DONE else None
    rows = _rows(jobs, record, result) if result else []
    return render_template("job.html", job=record, rows=rows, result=result,
                           cancel_form=CancelForm(),
                           doubtful=sum(1 for r in rows if _doubtful(r)))


def _rows(jobs, record, result: dict) -> list[dict]:
    """Source, translation, confidence and the low-confidence mark per sentence (per segment
    for a text job of a release before sentences were kept)."""
    if "sentences" in result:
        pairs = result["sentences"]
    elif record.kind == Kind.TEXT:
        raw = jobs.get_blob(record.id, "input")
        pairs = list(zip(json.loads(raw) if raw else [""] * len(result["translations"]),
                         result["translations"]))
    else:
        return []
    confidence = result.get("sentence_confidence") or [None] * len(pairs)
    rows = [{"source": s, "translation": t, "confidence": c}
            for (s, t), c in zip(pairs, confidence)]
    return [{**row, "doubtful": _doubtful(row)} for row in rows]


def _doubtful(row: dict) -> bool:
    confidence = row.get("confidence")
    return confidence is not None and confidence < LOW_CONFIDENCE


@bp.post("/jobs/<job_id>/cancel")
def cancel(job_id: str):
    CancelForm().validate_on_submit() or abort(400, "missing CSRF token")
    cancellable_job(job_id)
    try:
        intake().cancel_job(job_id)
        flash("The job was cancelled.")
    except JobStateError as exc:  # already finished; a missing job is a 404 page
        flash(exc.message)
    return redirect(url_for("pages.job", job_id=job_id))


@bp.get("/jobs/<job_id>/download")
def download(job_id: str):
    """The result as text (`report.en.txt`)."""
    record, result = visible_result(job_id)
    return text_response(record, result_text(record, result))


@bp.get("/jobs/<job_id>/download/file")
def download_file(job_id: str):
    """A document's translated file in its own format (`report.en.docx`)."""
    record, _ = visible_result(job_id)
    return file_response(record, store().get_output(job_id))


# ------------------------------------------------------------------------- checkpoints
def run_dirs() -> dict[str, Path]:
    """{run name: directory} of runs with a metrics log, under CHECKPOINT_DIRS."""
    out = {}
    for root in settings().checkpoint_roots():
        if root.is_dir():
            for path in sorted(root.iterdir()):
                if (path / "metrics.jsonl").is_file():
                    out[path.name] = path
    return out


def leaderboard() -> list[dict]:
    """Per named test set: the latest evaluation of each checkpoint (and beam), ranked by
    BLEU, with sacreBLEU's paired bootstrap against the best (cached in Redis)."""
    from translator.metrics import ALPHA, paired_bootstrap

    jobs = store()
    boards: dict[str, dict[tuple, dict]] = {}
    for ev in filter(listed, jobs.list_evaluations()):
        board = boards.setdefault(ev.testset or "upload", {})
        board.setdefault((ev.model, ev.beam), ev.to_dict())  # newest first: keep the latest
    out = []
    for testset, entries in sorted(boards.items()):
        rows = sorted(entries.values(), key=lambda e: -e["scores"]["bleu"])
        if testset != "upload" and len(rows) > 1:
            ids = [r["id"] for r in rows]
            tests = jobs.cached_tests(ids)
            if tests is None:
                results = [jobs.get_result(i) for i in ids]
                if all(results) and len({len(r["references"]) for r in results}) == 1:
                    tests = paired_bootstrap([r["hypotheses"] for r in results],
                                             results[0]["references"], samples=1000)
                    jobs.cache_tests(ids, tests)
                else:
                    tests = [{"p_values": None}] * len(rows)
            for row, test in zip(rows, tests):
                row["p_values"] = test["p_values"]
                row["significant"] = ({k: p < ALPHA for k, p in test["p_values"].items()}
                                      if test["p_values"] else None)
        out.append({"testset": testset, "rows": rows})
    return out


@bp.route("/checkpoints", methods=["GET", "POST"])
@job_limited
def checkpoints():
    known = known_checkpoints(settings())
    form = EvaluateForm()
    form.checkpoint.choices = [(name, name) for name in known]

    def submit():
        src, ref = form.source_file.data, form.reference_file.data
        if src or ref:
            if not (src and ref):
                raise InputError("upload both a source and a reference file")
            return intake().submit_evaluation(form.checkpoint.data, source=src.read(),
                                              reference=ref.read(),
                                              beam_size=form.beam_size.data, by=submitter())
        return intake().submit_evaluation(form.checkpoint.data,
                                          testset=form.testset.data or None,
                                          beam_size=form.beam_size.data, by=submitter())

    return form_page(form, submit, "checkpoints.html",
                     lambda: {"known": known, "runs": run_dirs(), "boards": leaderboard()})


@bp.get("/checkpoints/<run>/metrics.png")
def metrics_chart(run: str):
    runs = run_dirs()
    if run not in runs:  # only listed run names: no path from the request reaches the disk
        abort(404, "no such run")
    from translator.plot import plot_metrics

    with tempfile.TemporaryDirectory() as tmp:
        out = plot_metrics(runs[run] / "metrics.jsonl", Path(tmp) / "metrics.png")
        data = out.read_bytes()
    return Response(data, mimetype="image/png", headers={"Cache-Control": "max-age=60"})


# ------------------------------------------------------------------------- status
@bp.get("/status")
def status():
    jobs = store()
    redis_ok = jobs.ping()
    workers, queues = [], {}
    if redis_ok:
        workers = online_workers(jobs, celery(), timeout=1.0)
        queues = queue_lengths(jobs)
    code = 200 if redis_ok else 503
    return render_template("status.html", redis_ok=redis_ok, workers=workers, queues=queues,
                           languages=model_list(), checked=time.time()), code


@bp.get("/healthz")
def healthz():
    """The web and Redis (200, or 503 without Redis), and whether the models are loaded:
    `models` is "ready" once every pair of MODELS is warm in every interactive worker that
    serves it (any of them may take the next request),
    "loading" while one is still warming up, "failed" when a pair could not be loaded
    (`models_failed` says why), "no worker" without one. From the workers' registry; the
    status page asks the workers themselves."""
    jobs = store()
    ok = jobs.ping()
    body = {"web": "ok", "redis": "ok" if ok else "unreachable"}
    if ok:
        body.update(models_readiness(jobs.worker_info(), sorted(settings().model_paths())))
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response


def models_readiness(workers: dict[str, dict], pairs: list[str]) -> dict:
    interactive = [w for w in workers.values() if isinstance(w.get("ready"), list)]
    serving = {pair: [w for w in interactive if pair in w.get("pairs", pairs)] for pair in pairs}
    warm = {pair for pair, ws in serving.items() if ws and all(pair in w["ready"] for w in ws)}
    failed = {pair: why for w in interactive for pair, why in (w.get("failed") or {}).items()
              if pair in pairs and pair not in warm}
    if not interactive:
        state = "no worker"
    elif warm == set(pairs):
        state = "ready"
    elif all(w.get("warm") for w in interactive):
        state = "failed"
    else:
        state = "loading"
    return {"models": state, "models_ready": sorted(warm),
            "models_loading": sorted(set(pairs) - warm - set(failed)), "models_failed": failed}
