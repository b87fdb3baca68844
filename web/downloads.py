"""Downloads of a job's result: a document's translated file in its own format, and a .txt of
the text (`result_text`, which the API's result.txt answers too). Always attachments with
`nosniff`, so a browser never renders an uploaded page."""

from __future__ import annotations

import io
from pathlib import PurePath

from flask import Response, send_file

from translator.formats import formats
from worker.errors import JobStateError
from worker.records import Job, Kind


def format_label(name: str | None) -> str:
    fmt = formats().get(name or "")
    return fmt.label if fmt else (name or "")


def download_name(job: Job, fmt_name: str) -> str:
    """`report.en.docx`: the upload's name with the target language before its extension
    (the format's own extension for a .txt of the text, or without an upload name)."""
    name = PurePath((job.filename or "").replace("\\", "/")).name
    stem, suffix = (PurePath(name).stem, PurePath(name).suffix.lower()) if name else ("", "")
    stem = "".join(c for c in stem if c.isprintable() and c not in '"/\\')[:80] \
        or f"job-{job.id[:8]}"
    fmt = formats().get(fmt_name)
    if fmt_name == "txt" or fmt is None:
        ext = ".txt"
    else:
        ext = suffix if suffix in fmt.extensions else fmt.extensions[0]
    target = job.pair.split("-")[1] if "-" in (job.pair or "") else (job.pair or "eval")
    return f"{stem}.{target}{ext}"


def attachment(data: bytes, name: str, mimetype: str) -> Response:
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                         download_name=name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def file_response(job: Job, data: bytes | None) -> Response:
    """The translated file of a done document job (JobStateError when it has none: a text
    or evaluation job, or a document job of 0.1.0, which had no formats)."""
    fmt = formats().get(job.format or "")
    if data is None or fmt is None:
        raise JobStateError(f"job {job.id} has no translated file (only its text)", job)
    return attachment(data, download_name(job, fmt.name), fmt.media_type)


def text_response(job: Job, text: str) -> Response:
    return attachment(text.encode("utf-8"), download_name(job, "txt"),
                      "text/plain; charset=utf-8")


def result_text(job: Job, result: dict) -> str:
    """A finished job's result as plain text: a document's text, or one translation (or
    hypothesis, for an evaluation) per line."""
    if job.kind == Kind.DOCUMENT:
        return result["text"]
    lines = result.get("translations") or result.get("hypotheses") or []
    return "\n".join(lines) + "\n"
