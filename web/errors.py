"""Error handling: JSON with a message for the APIs, a page for the browser, never a traceback.

A Redis or broker outage is a 503 with a clear message; the process keeps serving.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException

from worker.errors import (
    InputError,
    JobError,
    JobNotFound,
    JobStateError,
    LimitError,
    TooLargeError,
)

from .access import seconds_until_reset, too_many_message

log = logging.getLogger(__name__)

REDIS_DOWN = ("the job queue (Redis) is not reachable; try again in a moment")


# The HTTP status of each kind of job error (the first class in its MRO found here).
JOB_ERROR_STATUS = {TooLargeError: 413, InputError: 422, JobNotFound: 404, JobStateError: 409,
                    LimitError: 429, JobError: 400}


def http_status(exc: JobError) -> int:
    return next(JOB_ERROR_STATUS[c] for c in type(exc).__mro__ if c in JOB_ERROR_STATUS)


def wants_json() -> bool:
    return (request.path.startswith("/api/") or request.path in LIBRE_PATHS
            or request.path.startswith("/download_file/")
            or request.accept_mimetypes.best == "application/json")


LIBRE_PATHS = ("/translate", "/translate_file", "/detect", "/languages", "/frontend/settings")


def error_response(status: int, message: str, **extra):
    if wants_json():
        return jsonify({"error": message, "status": status, **extra}), status
    return render_template("error.html", status=status, message=message), status


DRAIN_LIMIT = 32 * 1024 * 1024


def _drain_body() -> None:
    """Read and discard the rest of a refused body when it is not absurdly large: a client
    that sends its whole body before reading the answer (most do) would otherwise see a reset
    connection instead of the 413 message."""
    length = request.content_length or 0
    stream = request.environ.get("wsgi.input")
    left = length if length <= DRAIN_LIMIT else 0
    while stream is not None and left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        left -= len(chunk)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(JobError)
    def job_error(exc: JobError):
        extra = {"job_id": exc.job.id} if exc.job else {}
        status = http_status(exc)
        if request.path in LIBRE_PATHS and status in (413, 422):
            status = 400  # LibreTranslate answers every invalid request 400
        return error_response(status, exc.message, **extra)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, "the form has expired or was not sent by this site "
                                   "(missing CSRF token); reload the page and try again")

    @app.errorhandler(413)
    def too_large(exc):
        _drain_body()
        limit = app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, f"the request is too large (limit {limit:,} bytes)")

    @app.errorhandler(429)
    def too_many(exc):
        limit = getattr(exc, "limit", None)  # flask_limiter's RateLimitExceeded: the limit hit
        retry_after = seconds_until_reset()
        message = too_many_message(getattr(limit, "scope", None),
                                   str(limit.limit) if limit else exc.description, retry_after)
        return error_response(429, message, **({"retry_after": retry_after} if retry_after
                                               else {}))

    @app.errorhandler(redis.RedisError)
    @app.errorhandler(OperationalError)
    def redis_down(exc):
        log.warning("Redis unavailable: %s", exc)
        return error_response(503, REDIS_DOWN)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return error_response(500, "internal error; it has been logged")
