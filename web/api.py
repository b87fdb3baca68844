"""The JSON API, /api/v1 (described by /api/v1/openapi.json). Errors are JSON:
{"error": message, "status": code} with 400, 403, 404, 409, 413, 422, 429 or 503."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request, url_for

from worker.errors import InputError
from worker.intake import known_checkpoints
from worker.records import Job, Status

from .access import (
    cancellable_job,
    check_api_key,
    deletable_job,
    job_limited,
    listed_owner,
    submitter,
    visible_job,
    visible_result,
)
from .catalog import model_list
from .downloads import file_response, result_text
from .extensions import intake, settings, store
from .openapi import openapi_document

bp = Blueprint("api", __name__)


@bp.before_request
def _require_api_key() -> None:
    """Every API route needs a key when API_KEYS is set, except its description, which the
    pages link to."""
    if request.endpoint != "api.openapi":
        check_api_key()


def json_body() -> dict:
    """The request's JSON object; 400 for malformed JSON or anything but an object."""
    if not request.is_json:
        abort(400, "send a JSON object (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "the request body is not a JSON object (malformed JSON?)")
    return body


def pair_from(body: dict) -> str:
    pair = body.get("pair")
    if pair is None and body.get("source") and body.get("target"):
        pair = f"{body['source']}-{body['target']}"
    if not isinstance(pair, str) or not pair:
        raise InputError("give the language pair as `pair` (e.g. \"de-en\") or `source` and "
                         "`target`")
    return pair


def job_view(job: Job) -> dict:
    """A job record for API clients, with links."""
    out = job.to_dict()
    out["links"] = {
        "self": url_for("api.get_job", job_id=job.id, _external=False),
        "result": url_for("api.get_result", job_id=job.id),
        "result_text": url_for("api.get_result_text", job_id=job.id),
        "cancel": url_for("api.cancel", job_id=job.id),
        "page": url_for("pages.job", job_id=job.id),
    }
    if job.format:  # a document read by the format layer: its translated file too
        out["links"]["result_file"] = url_for("api.get_result_file", job_id=job.id)
    return out


def created(job: Job):
    response = jsonify(job_view(job))
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_job", job_id=job.id)
    return response


def wait_seconds(value) -> float:
    """A request's `wait` (seconds to block until the job finishes): a number of at least 0;
    more than TRANSLATE_TIMEOUT waits TRANSLATE_TIMEOUT."""
    if value in (None, ""):
        return 0.0
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError("`wait` must be a number of seconds") from None
    if not seconds >= 0 or isinstance(value, bool):  # rejects NaN and negative numbers too
        raise InputError("`wait` must be a number of seconds, 0 or more")
    return min(seconds, settings().translate_timeout)


def waited(job: Job, seconds: float):
    """The job with its result inline (200) if it finishes within `seconds` (woken by the
    job store); None otherwise (the caller answers with the job's record)."""
    jobs = store()
    status = jobs.wait(job.id, seconds) if seconds else None
    if status == Status.DONE:
        record, result = jobs.require_result(job.id)
        return jsonify({**job_view(record), "result": result_view(record, result)})
    return None


@bp.post("/translate")
@job_limited
def translate():
    """Create a text job: {"text": str | [str], "pair": "de-en", "beam_size": 5,
    "reference": str | [str], "alternatives": n, "wait": seconds} (source `auto`:
    "auto-en", the record's `detected` says what was found). With `wait`, answers 200 with
    the finished job and its result if it is done within that time, else 202 as without. With
    "format": "html", `text` is HTML: a document job whose translated HTML is its
    `result/file` (its tags placed by alignment)."""
    body = json_body()
    text = body.get("text", body.get("q"))
    if text is None:
        raise InputError("give the text to translate as `text` (a string or a list of strings)")
    wait = wait_seconds(body.get("wait"))
    if body.get("format", "text") not in ("text", "html"):
        raise InputError("`format` must be text or html")
    if body.get("format") == "html":  # a document job of the HTML, tags placed by alignment
        if not isinstance(text, str):
            raise InputError("with format=html, `text` is one HTML string")
        job = intake().submit_document(text, pair_from(body), beam_size=body.get("beam_size"),
                                     filename="text.html" if "<" in text else "text.txt",
                                     by=submitter())
        return waited(job, wait) or created(job)
    job = intake().submit_text(text, pair_from(body), beam_size=body.get("beam_size"),
                             reference=body.get("reference") or None,
                             alternatives=body.get("alternatives") or 0, by=submitter())
    return waited(job, wait) or created(job)


@bp.post("/documents")
@job_limited
def create_document():
    """Create a document job from a multipart upload (`file`, optional `reference` file,
    `pair`, `beam_size`) or JSON ({"text": ..., "pair": ..., "reference": ...})."""
    if request.is_json:
        body = json_body()
        text, reference, filename = body.get("text"), body.get("reference"), body.get("filename")
        if not isinstance(text, str):
            raise InputError("`text` must be the document's text as a string")
        if reference is not None and not isinstance(reference, str):
            raise InputError("`reference` must be a string")
        beam = body.get("beam_size")
    else:
        body = request.form.to_dict()
        upload = request.files.get("file")
        if upload is None and "text" not in body:
            raise InputError("upload the document as `file` (or send JSON with `text`)")
        text = upload.read() if upload else body["text"]
        filename = upload.filename if upload else None
        ref_upload = request.files.get("reference")
        reference = ref_upload.read() if ref_upload else body.get("reference") or None
        beam = _beam_size(body.get("beam_size"))
    job = intake().submit_document(text, pair_from(body), beam_size=beam, reference=reference,
                                 filename=filename if isinstance(filename, str) else None,
                                 retranslate=_retranslate(body.get("retranslate")),
                                 by=submitter())
    return created(job)


def _retranslate(value) -> bool:
    """The `retranslate` field, from JSON (true/false) or a form ("1", "true", "on", "yes")."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("", "0", "false", "off", "no"):
        return False
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes"):
        return True
    raise InputError("`retranslate` must be true or false")


def _beam_size(value) -> int | None:
    """The `beam_size` field, from JSON or a form (its range is checked by the intake)."""
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError("beam_size must be an integer") from None


@bp.get("/jobs")
def list_jobs():
    try:
        offset = max(0, int(request.args.get("offset", 0)))
        limit = min(100, max(1, int(request.args.get("limit", 20))))
    except ValueError:
        raise InputError("offset and limit must be integers") from None
    items, total = store().list_jobs(offset, limit, owner=listed_owner())
    return jsonify({"jobs": [job_view(j) for j in items], "total": total, "offset": offset,
                    "limit": limit})


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """The job; with `?wait=S`, once it is finished or after S seconds, with its result inline
    if it is done."""
    jobs = store()
    job = visible_job(job_id)
    wait = wait_seconds(request.args.get("wait"))
    if wait:  # a job already done answers at once, with its result
        return waited(job, wait) or jsonify(job_view(jobs.require_job(job_id)))
    return jsonify(job_view(job))


@bp.get("/jobs/<job_id>/result")
def get_result(job_id: str):
    return jsonify(result_view(*visible_result(job_id)))


def result_view(job: Job, result: dict) -> dict:
    """A finished job's result for API clients, with the job's scores."""
    return {"id": job.id, "kind": job.kind, "scores": job.scores, **result}


@bp.get("/jobs/<job_id>/result.txt")
def get_result_text(job_id: str):
    job, result = visible_result(job_id)
    return Response(result_text(job, result), mimetype="text/plain; charset=utf-8")


@bp.get("/jobs/<job_id>/result/file")
def get_result_file(job_id: str):
    """A document job's translated file, in the format it was uploaded in."""
    job, _ = visible_result(job_id)
    return file_response(job, store().get_output(job_id))


@bp.post("/jobs/<job_id>/cancel")
@bp.delete("/jobs/<job_id>")
def cancel(job_id: str):
    cancellable_job(job_id)
    return jsonify(job_view(intake().cancel_job(job_id)))


@bp.post("/evaluations")
@job_limited
def create_evaluation():
    """Evaluate a checkpoint ({"checkpoint": name}) or an uploaded system's output
    ({"system": name, "hypotheses": text, one segment per line, and "pair" on a named test
    set}) on a named test set ({"testset": "test_2016_flickr"}) or on uploaded texts
    ("source" and "reference": a text, or a list of texts for several references)."""
    body = json_body()
    checkpoint, hypotheses = body.get("checkpoint"), body.get("hypotheses")
    if hypotheses is None and not isinstance(checkpoint, str):
        raise InputError("`checkpoint` must be one of the names from /api/v1/models (or give "
                         "`hypotheses` and `system` to score a system's output)")
    for name in ("testset", "source", "hypotheses", "system", "pair"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InputError(f"`{name}` must be a string")
    reference = body.get("reference")
    if reference is not None and not (isinstance(reference, str) or (
            isinstance(reference, list) and all(isinstance(r, str) for r in reference))):
        raise InputError("`reference` must be a string or a list of strings")
    job = intake().submit_evaluation(checkpoint, testset=body.get("testset"),
                                     source=body.get("source"), reference=reference,
                                     beam_size=body.get("beam_size"), by=submitter(),
                                     hypotheses=hypotheses, system=body.get("system"),
                                     pair=body.get("pair"))
    return created(job)


@bp.delete("/evaluations/<job_id>")
def delete_evaluation(job_id: str):
    """Delete a finished evaluation (its owner's, or an admin key's) and its comparisons."""
    intake().delete_evaluation(deletable_job(job_id).id)
    return jsonify({"deleted": job_id})


@bp.get("/models")
def models():
    return jsonify({
        "pairs": model_list(),
        "checkpoints": sorted(known_checkpoints(settings())),
    })


@bp.get("/pairs")
def pairs():
    """Every translatable pair, the pivoted ones included."""
    return jsonify({"pairs": [m["pair"] for m in model_list()]})


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
