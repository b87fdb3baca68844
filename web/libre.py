"""LibreTranslate compatibility: `POST /translate`, `POST /translate_file`, `POST /detect`,
`GET /languages` and `GET /frontend/settings`, so that existing LibreTranslate clients work
unchanged.
`/translate` queues a text job (`source=auto`: the source detected, `alternatives`: n-best;
`format=html`: a document job of the HTML, its tags placed by
alignment) and waits for it (up to TRANSLATE_TIMEOUT seconds, woken by the job store when it
finishes, then 503 with the job id). `/translate_file` queues a document job, waits the same
way, and answers a signed URL of the translated file that expires after FILE_URL_SECONDS (it
needs no key; nobody can make one without SECRET_KEY)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from translator.formats import formats
from worker.errors import InputError
from worker.intake import check_segments
from worker.records import Job, Status

from .access import check_api_key, job_limited, keys_required, submitter
from .catalog import unavailable_pairs
from .downloads import file_response
from .errors import error_response
from .extensions import intake, language_name, settings, store

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
    fmt = params.get("format") or "text"
    if fmt not in ("text", "html"):
        raise InputError("`format` must be text or html")
    alternatives = _alternatives(params.get("alternatives"))
    if fmt == "html":
        return _translate_html(q, f"{source}-{target}")
    jobs = store()
    job = intake().submit_text(q, f"{source}-{target}", alternatives=alternatives,
                               by=submitter())
    # Woken when it finishes, with its result in the same round trip.
    status, result = jobs.wait_result(job.id, settings().translate_timeout)
    failure = _failure(job, status)
    if failure is not None:
        return failure
    if result is None:  # expired between its end and this read (JOB_TTL): a server problem
        return error_response(503, "the translation's result is gone", job_id=job.id)
    translations = result["translations"]
    confidence = result.get("confidence") or [None] * len(translations)
    others = result.get("alternatives") or [[] for _ in translations]
    # `confidence` is ours, not LibreTranslate's: 0..1 per text (its least confident
    # sentence); clients that do not know it ignore it.
    single = not isinstance(q, list)
    answer = {"translatedText": translations[0] if single else translations,
              "confidence": confidence[0] if single else confidence}
    if alternatives:
        answer["alternatives"] = others[0] if single else others
    if job.detected:  # a list is taken to be in one language: detected from all its texts
        answer["detectedLanguage"] = job.detected if single else [job.detected] * len(q)
    return jsonify(answer)


def _alternatives(value) -> int:
    """LibreTranslate's `alternatives` (a number, in JSON or a form): how many more
    translations of each text."""
    if value in (None, ""):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError("`alternatives` must be a whole number") from None
    if isinstance(value, (bool, float)) or number < 0:
        raise InputError("`alternatives` must be a whole number, 0 or more")
    return number


@bp.post("/detect")
@job_limited
def detect():
    """LibreTranslate's `/detect`: [{"language": "de", "confidence": 97.0}, ...], the
    likeliest first, confidence 0-100, over every language the detector knows (not only
    the served ones: a text in another language is named as such)."""
    check_api_key()
    q = _params().get("q")
    if not isinstance(q, str) or not q.strip():
        raise InputError("`q` (a non-empty string) is required")
    check_segments(q, settings(), "`q`")  # the text jobs' limits and checks
    guesses = intake().detector().detect(q, best=3)
    return jsonify([{"language": g.language, "confidence": g.confidence} for g in guesses])


def _failure(job: Job, status: Status | None):
    """The answer for a job that did not end done (None when it did)."""
    if status is None or not status.final:
        return error_response(503, "the translation did not finish in time; it is still "
                                   "queued or running", job_id=job.id)
    if status != Status.DONE:
        # A failed job here is the server's problem (the input was checked on submission).
        error = store().require_job(job.id).error or f"the job was {status}"
        return error_response(409 if status == Status.CANCELLED else 503, error,
                              job_id=job.id)
    return None


def _translate_html(q, pair: str):
    """`format=html`: each text is an HTML document or fragment, translated as a document
    job of the HTML format (scripts and styles left alone, `alt`/`title` translated, tags
    placed by alignment); the answer is the translated HTML, never rendered by our pages."""
    texts = q if isinstance(q, list) else [q]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise InputError("`q` must be a non-empty string or a list of them")
    if sum(map(len, texts)) > settings().max_text_chars:
        raise InputError(f"`q` has more than {settings().max_text_chars:,} characters")
    jobs = [intake().submit_document(t, pair, filename="q.html" if "<" in t else "q.txt",
                                     by=submitter())
            for t in texts]
    out = []
    for job in jobs:
        status = store().wait(job.id, settings().translate_timeout)
        failure = _failure(job, status)
        if failure is not None:
            return failure
        data = store().get_output(job.id)
        out.append(data.decode("utf-8") if data is not None else "")
    return jsonify({"translatedText": out if isinstance(q, list) else out[0]})


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="translated-file")


@bp.post("/translate_file")
@job_limited
def translate_file():
    """LibreTranslate's file API: multipart `file`, `source`, `target` (and `api_key`); waits
    for the document job and answers {"translatedFileUrl": ...}, a signed, expiring URL."""
    check_api_key()
    upload = request.files.get("file")
    source, target = request.form.get("source"), request.form.get("target")
    if upload is None or not source or not target:
        raise InputError("`file`, `source` and `target` are required")
    job = intake().submit_document(upload.read(), f"{source}-{target}",
                                   filename=upload.filename or None, by=submitter())
    failure = _failure(job, store().wait(job.id, settings().translate_timeout))
    if failure is not None:
        return failure
    token = _signer().dumps(job.id)
    return jsonify({"translatedFileUrl": url_for("libre.download_translated_file", token=token,
                                                 _external=True)})


@bp.get("/download_file/<token>")
def download_translated_file(token: str):
    """The file behind a signed URL of /translate_file; 404 once it expired or if altered."""
    try:
        job_id = _signer().loads(token, max_age=settings().file_url_seconds)
    except BadSignature:  # SignatureExpired is one too
        abort(404)
    job, _ = store().require_result(job_id)
    return file_response(job, store().get_output(job_id))


@bp.get("/frontend/settings")
def frontend_settings():
    """What LibreTranslate's web front end and clients read: limits, keys, file formats and
    the languages."""
    reachable = settings().reachable()
    sources = sorted(reachable)
    targets = sorted({t for ts in reachable.values() for t in ts})
    return jsonify({
        "charLimit": settings().max_text_chars, "frontendTimeout": 500,
        "apiKeys": keys_required(), "keyRequired": keys_required(),
        "suggestions": False, "filesTranslation": True,
        "supportedFilesFormat": [ext for f in formats().values() for ext in f.extensions],
        "language": {"source": {"code": "auto", "name": "Auto Detect"},
                     "target": {"code": targets[0] if targets else "",
                                "name": language_name(targets[0]) if targets else ""}},
        "sources": sources})


@bp.get("/languages")
def languages():
    """Every source language and the targets it reaches, directly or through the pivot
    language (LibreTranslate's shape; ours besides: `pivot`, {target: via} where it pivots,
    and `bleu`, {target: test BLEU} where the model's run recorded it)."""
    entries = settings().model_entries()
    broken = unavailable_pairs()
    out = []
    for code, all_targets in settings().reachable().items():
        down = {t: "; ".join(f"{s}: {broken[s]}" for s in settings().route(f"{code}-{t}")
                             if s in broken)
                for t in all_targets}
        targets = {t: via for t, via in all_targets.items() if not down[t]}
        entry = {"code": code, "name": language_name(code), "targets": sorted(targets)}
        if any(down.values()):  # ours: what is configured but cannot be loaded, and why
            entry["unavailable"] = {t: why for t, why in down.items() if why}
        pivots = {t: via for t, via in targets.items() if via}
        if pivots:
            entry["pivot"] = pivots
        bleu = {t: entries[f"{code}-{t}"]["test"].get("bleu_beam5") for t in sorted(targets)
                if not targets[t] and entries[f"{code}-{t}"]["test"].get("bleu_beam5")
                is not None}
        if bleu:
            entry["bleu"] = bleu
        out.append(entry)
    return jsonify(out)
