"""Server-rendered pages: translate, documents, jobs, a job (and its downloads), checkpoints
(the leaderboard, from worker/leaderboard.py, and the runs' charts). The login, the status
pages and the template filters are in web/auth.py, web/health.py and web/filters.py, on the
same blueprint.

Every page works without JavaScript; static/app.js adds in-place results and live progress.
All text (inputs, translations, file names) reaches the page through Jinja's autoescaping or
`textContent`, never as HTML.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from translator.defaults import LOW_CONFIDENCE, TEST_SPLIT
from translator.formats import formats
from worker.errors import InputError, JobStateError, LimitError
from worker.intake import AUTO, known_checkpoints
from worker.leaderboard import history_pairs, history_points, leaderboard, run_dirs
from worker.records import Kind, Status

from .access import (
    caller,
    can_delete,
    cancellable_job,
    deletable_job,
    job_limited,
    listed,
    listed_owner,
    submitter,
    visible_job,
    visible_result,
)
from .catalog import checkpoint_labels
from .downloads import file_response, result_text, text_response
from .errors import http_status
from .extensions import intake, language_name, settings, store
from .forms import CancelForm, DocumentForm, EvaluateForm, TranslateForm

bp = Blueprint("pages", __name__, template_folder="templates/pages")
"""The pages' blueprint. web/auth.py (login), web/health.py (status checks) and web/filters.py
(template filters) add their views and filters to it."""
PAGE_SIZE = 20


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
                                  reference=reference, alternatives=form.alternatives.data or 0,
                                  by=submitter())

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
                           cancel_form=CancelForm(), can_delete=can_delete(record),
                           evaluation_days=round(settings().evaluation_ttl / 86400),
                           doubtful=sum(1 for r in rows if r["doubtful"]),
                           alternatives=_alternatives(result))


def _rows(jobs, record, result: dict) -> list[dict]:
    """Source, translation, confidence and the low-confidence mark per sentence (per segment
    for a text job of 0.1.0, which kept no sentences: may go JOB_TTL after its last worker)."""
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


def _alternatives(result: dict | None) -> list[tuple[int, str, list[str]]]:
    """(segment number from 1, its translation, its other translations) per segment of a
    text job asked for n-best alternatives that has any; [] otherwise. The API's lists keep
    k entries per segment; the page leaves out the empty ones (an empty line's) and repeats
    (a sentence with fewer hypotheses gives its best)."""
    out = []
    pairs = zip((result or {}).get("translations") or [], (result or {}).get("alternatives") or [])
    for i, (translation, others) in enumerate(pairs, start=1):
        distinct = [o for o in dict.fromkeys(others) if o.strip() and o != translation]
        if distinct:
            out.append((i, translation, distinct))
    return out


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


@bp.post("/jobs/<job_id>/delete")
def delete(job_id: str):
    """Delete a finished evaluation (its owner's): back to the leaderboard."""
    CancelForm().validate_on_submit() or abort(400, "missing CSRF token")
    deletable_job(job_id)
    try:
        intake().delete_evaluation(job_id)
    except (InputError, JobStateError) as exc:
        flash(exc.message)
        return redirect(url_for("pages.job", job_id=job_id))
    flash("The evaluation was deleted.")
    return redirect(url_for("pages.checkpoints"))


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
@bp.route("/checkpoints", methods=["GET", "POST"])
@job_limited
def checkpoints():
    known = known_checkpoints(settings())
    form = EvaluateForm()
    form.checkpoint.choices = [(name, name) for name in known]

    def submit():
        checkpoint = (form.ensemble.data or "").strip() or form.checkpoint.data
        src = form.source_file.data
        refs = [f.read() for f in form.reference_file.data or [] if f and f.filename]
        hyps = form.hypotheses_file.data
        system = (form.system.data or "").strip()
        if system or hyps:
            if not (system and hyps):
                raise InputError("name the system and upload its output")
            return intake().submit_evaluation(
                hypotheses=hyps.read(), system=system, pair=form.pair.data or None,
                testset=None if refs else form.testset.data or None,
                source=src.read() if src else None, reference=refs or None, by=submitter())
        if src or refs:
            if not (src and refs):
                raise InputError("upload both a source and a reference file")
            return intake().submit_evaluation(checkpoint, source=src.read(),
                                              reference=refs, beam_size=form.beam_size.data,
                                              by=submitter(), pair=form.pair.data or None)
        return intake().submit_evaluation(checkpoint, testset=form.testset.data or None,
                                          beam_size=form.beam_size.data, by=submitter(),
                                          pair=form.pair.data or None)

    baseline = request.args.get("baseline")

    def context() -> dict:
        runs = run_dirs(settings())
        directions = {run: run_directions(path) for run, path in runs.items()}
        return {"known": checkpoint_labels(known), "runs": runs, "baseline": baseline,
                "test_split": TEST_SPLIT,
                "evaluation_days": round(settings().evaluation_ttl / 86400),
                "histories": {run: _charted(run, directions[run]) for run in runs},
                "directions": directions,
                "boards": leaderboard(intake(), listed, baseline), "run_form": CancelForm()}

    return form_page(form, submit, "checkpoints.html", context)


def _charted(run: str, directions: list[str]) -> list[str | None]:
    """The history charts of a run: [None] (its one pair) when it has evaluated periodic
    checkpoints, or a multilingual run's evaluated directions; [] for none."""
    pairs = history_pairs(intake(), listed, run, TEST_SPLIT)
    if not directions:
        return [None] if pairs else []
    return [d for d in directions if d in pairs]


def run_directions(run: Path) -> list[str]:
    """The directions of a multilingual run (from a checkpoint's meta, read without torch:
    last.pt, best.pt or its latest periodic checkpoint); [] for a run of one pair or one
    without a readable checkpoint."""
    from translator.checkpoint_file import periodic_step, spec_directions
    from translator.errors import CheckpointError

    periodic = sorted((p for p in run.glob("step*.pt") if periodic_step(p.name) is not None),
                      key=lambda p: periodic_step(p.name))[-1:]  # periodic checkpoints only
    for path in (run / "last.pt", run / "best.pt", *periodic):
        try:
            return spec_directions(path)
        except CheckpointError:
            continue
    return []


@bp.post("/checkpoints/<run>/history")
@job_limited
def evaluate_history(run: str):
    """Evaluate every periodic checkpoint of a run on a named test set (one click)."""
    CancelForm().validate_on_submit() or abort(400, "missing CSRF token")
    listed_run(run)
    try:
        jobs = intake().submit_history(run, request.form.get("testset") or TEST_SPLIT,
                                       by=submitter(), pair=request.form.get("pair") or None)
        flash(f"{len(jobs)} evaluations of {run}'s checkpoints queued; the history chart "
              f"fills in as they finish.")
    except (InputError, LimitError) as exc:
        flash(exc.message)
    return redirect(url_for("pages.checkpoints"))


@bp.get("/checkpoints/<run>/history.png")
def history_chart(run: str):
    """The run's test BLEU over updates (its evaluated periodic checkpoints) beside its
    validation BLEU."""
    run_dir = listed_run(run)
    testset = request.args.get("testset") or TEST_SPLIT
    pair, directions = request.args.get("pair") or None, run_directions(run_dir)
    if (pair is not None or directions) and pair not in directions:
        abort(404, "no such direction in this run")  # a multilingual run's: one direction
    points = history_points(intake(), listed, run, testset, pair)
    if not points:
        abort(404, "no evaluated periodic checkpoints")
    from translator.evaluation.plot import plot_history

    beams = sorted({beam for _, _, beam in points})
    label = f"{testset} (beam {', '.join(map(str, beams))})"
    with tempfile.TemporaryDirectory() as tmp:
        out = plot_history(run_dir / "metrics.jsonl", [(s, b) for s, b, _ in points], label,
                           Path(tmp) / "history.png", direction=pair)
        return _png(out.read_bytes(), max_age=10)


@bp.get("/checkpoints/<run>/metrics.png")
def metrics_chart(run: str):
    run_dir = listed_run(run)
    from translator.evaluation.plot import plot_metrics

    with tempfile.TemporaryDirectory() as tmp:
        out = plot_metrics(run_dir / "metrics.jsonl", Path(tmp) / "metrics.png")
        return _png(out.read_bytes(), max_age=60)


def listed_run(run: str) -> Path:
    """The directory of a run the checkpoints page lists; 404 for any other name (only
    listed run names, never a path from the request, reach the disk)."""
    runs = run_dirs(settings())
    if run not in runs:
        abort(404, "no such run")
    return runs[run]


def _png(data: bytes, max_age: int) -> Response:
    return Response(data, mimetype="image/png", headers={"Cache-Control": f"max-age={max_age}"})
