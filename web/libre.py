"""LibreTranslate compatibility: `POST /translate` and `GET /languages`, so that existing
LibreTranslate clients work unchanged. `/translate` queues a text job and waits for it (up to
TRANSLATE_TIMEOUT seconds, woken by the job store when it finishes, then 503 with the job
id)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from worker.errors import InputError
from worker.records import Status

from .api import check_api_key
from .errors import error_response
from .extensions import intake, job_limited, language_name, settings, store

bp = Blueprint("libre", __name__)


def _params() -> dict:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, "the request body is not a JSON object (malformed JSON?)")
        return body
    return request.form.to_dict() or request.args.to_dict()


@bp.post("/translate")
@job_limited
def translate():
    check_api_key()
    params = _params()
    q, source, target = params.get("q"), params.get("source"), params.get("target")
    if q is None or not source or not target:
        raise InputError("`q`, `source` and `target` are required")
    if params.get("format", "text") not in ("text", None):
        raise InputError("only format=text is supported")
    if source == "auto":
        raise InputError("source language detection is not supported; give `source`")
    jobs = store()
    job = intake().submit_text(q, f"{source}-{target}")
    # Woken when it finishes, with its result in the same round trip.
    status, result = jobs.wait_result(job.id, settings().translate_timeout)
    if status is None or not status.final:
        return error_response(503, "the translation did not finish in time; it is still "
                                   "queued or running", job_id=job.id)
    if status != Status.DONE:
        # A failed job here is the server's problem (the input was checked on submission).
        error = jobs.require_job(job.id).error or f"the job was {status}"
        return error_response(409 if status == Status.CANCELLED else 503, error,
                              job_id=job.id)
    if result is None:  # expired between its end and this read (JOB_TTL): a server problem
        return error_response(503, "the translation's result is gone", job_id=job.id)
    translations = result["translations"]
    confidence = result.get("confidence") or [None] * len(translations)
    # `confidence` is ours, not LibreTranslate's: 0..1 per text (its least confident
    # sentence); clients that do not know it ignore it.
    if isinstance(q, list):
        return jsonify({"translatedText": translations, "confidence": confidence})
    return jsonify({"translatedText": translations[0], "confidence": confidence[0]})


@bp.get("/languages")
def languages():
    pairs = sorted(settings().model_paths())
    sources: dict[str, list[str]] = {}
    for pair in pairs:
        src, _, tgt = pair.partition("-")
        sources.setdefault(src, []).append(tgt)
    return jsonify([{"code": code, "name": language_name(code), "targets": targets}
                    for code, targets in sorted(sources.items())])
