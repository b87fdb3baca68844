"""Intake: a request checked, recorded as a job and queued; and a job cancelled.

What the web and other clients call to create jobs (`Intake.submit_text`, `submit_document`,
`cancel_job`; evaluations and comparisons in worker/workbench.py); it imports no torch. Input
is validated here before anything is queued; a rejected request raises InputError
(TooLargeError for a size limit) and leaves no record (a bad request must not fill the job list
or Redis). Every job may have an `owner` (web/access.py says who: a hash of an API key, or a
browser session): the store indexes each owner's jobs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from translator.defaults import MAX_BEAM
from translator.languages import valid_pair

from .celery_app import DOCUMENT_TASK, TEXT_TASK, docs_queue, text_queue
from .checks import (  # noqa: F401  (re-exported: the intake's checks, as before)
    check_beam,
    check_segments,
    check_size,
    decode_document,
    known_checkpoints,
    resolve_checkpoint,
)
from .dispatch import Dispatcher, TaskSpec, pending_records, plan
from .errors import InputError, JobStateError, LimitError, TooLargeError
from .records import Job, Kind, Status, Submitter  # noqa: F401  (re-exported)
from .settings import Settings
from .store import JobStore, new_job_id
from .workbench import Workbench


def read_document(raw: bytes, filename: str | None, settings: Settings,
                  retranslate: bool = False):
    """(format, parsed file) of an uploaded document: its format found from its content and
    its name, read within the settings' limits. Raises InputError with the format's message
    (a mismatch, a corrupt or hostile file, an unreadable encoding)."""
    from translator.formats import FormatError, detect, read_file

    try:
        fmt = detect(raw, filename)
        return fmt, read_file(raw, fmt, settings.format_limits(), retranslate)
    except FormatError as exc:
        raise InputError(str(exc)) from None


AUTO = "auto"
"""The source code that asks for the source language to be detected (`auto-fr`)."""


@dataclass(frozen=True)
class Route:
    """A checked pair: `steps` are the model pairs that translate it (two: a pivot), and
    `detected` the source language found for `auto`."""

    pair: str
    steps: list[str]
    detected: dict | None = None

    @property
    def pivot(self) -> str | None:
        return self.steps[0].split("-")[1] if len(self.steps) > 1 else None

    def fields(self, settings: Settings) -> dict[str, Any]:
        """What the job's record says about its route and models."""
        models = settings.model_paths()
        out: dict[str, Any] = {"model": " + ".join(models[step] for step in self.steps)}
        if self.pivot:
            out["pivot"] = self.pivot
        if self.detected:
            out["detected"] = self.detected
        return out


class Intake(Workbench):
    """Jobs checked, recorded and queued; evaluations and comparisons: `Workbench`."""

    def __init__(self, store: JobStore, app):
        self.store, self.settings = store, store.settings
        self.dispatcher = Dispatcher(store, app)

    def check_pair(self, pair: str, text: str = "") -> Route:
        """The route of `pair` (`src-tgt`; source `auto`: detected from `text`), or
        InputError naming what is served."""
        pair = str(pair).strip().lower()
        src, sep, tgt = pair.partition("-")
        detected = None
        if src == AUTO and sep:
            detected = self.detect_source(text, tgt)
            pair = f"{detected['language']}-{tgt}"
        steps = self.settings.route(pair) if valid_pair(pair) else None
        if steps is None:
            raise InputError(f"unknown language pair {pair[:40]!r}; {self.served()}")
        return Route(pair, steps, detected)

    def served(self) -> str:
        """What this server translates, in words (for errors)."""
        reachable = self.settings.reachable()
        if not reachable:
            return "this server serves no pairs"
        return "served: " + "; ".join(f"{src} to {', '.join(targets)}"
                                       for src, targets in reachable.items())

    def detector(self):
        """The process's language detector, as DETECT_ACCURACY and DETECT_LANGUAGES say."""
        from translator.inference.detection import detector

        return detector(self.settings.detect_accuracy, self.settings.detection_languages())

    def detect_source(self, text: str, target: str) -> dict:
        """{"language", "confidence"} of the text's language, which must be one this server
        translates into `target` (else InputError naming the language and what is served)."""
        from translator.inference.detection import language_name

        guesses = self.detector().detect(text, best=1)
        if not guesses:
            raise InputError("the text's language cannot be detected (it has no letters); "
                             "give the source language")
        best = guesses[0]
        if self.settings.route(f"{best.language}-{target}") is None:
            raise InputError(f"the text is in {language_name(best.language)} "
                             f"({best.confidence:g}% sure), which this server does not "
                             f"translate into {language_name(target[:10])}; {self.served()}")
        return {"language": best.language, "confidence": best.confidence}

    def check_beam(self, beam_size: Any) -> int:
        """A request's beam size (BEAM_SIZE when it gives none), checked."""
        return check_beam(self.settings.beam_size if beam_size is None else beam_size)

    def submit_text(self, segments: list[str] | str, pair: str, beam_size: int | None = None,
                    reference: list[str] | str | None = None, alternatives: int = 0,
                    by: Submitter | None = None) -> Job:
        """Queue a text job: one segment or a list; `alternatives` more translations of
        each (n-best); a source of `auto` is detected from the text."""
        single = isinstance(segments, str)
        beam = self.check_beam(beam_size)
        segs = check_segments(segments, self.settings)
        route = self.check_pair(pair, "\n".join(segs))
        refs = check_segments(reference, self.settings, "reference") if reference else None
        if refs is not None and len(refs) != len(segs):
            raise InputError(f"{len(refs)} reference segments for {len(segs)} segments")
        if not isinstance(alternatives, int) or isinstance(alternatives, bool) \
                or not 0 <= alternatives < MAX_BEAM:
            raise InputError(f"alternatives must be an integer from 0 to {MAX_BEAM - 1}")
        beam = max(beam, alternatives + 1)  # n-best needs a beam at least that wide
        blobs = {"input": json.dumps(segs)}
        if refs is not None:
            blobs["reference"] = json.dumps(refs)
        first = route.steps[0]
        extra = {"alternatives": alternatives} if alternatives else {}
        return self._queue(Kind.TEXT, route.pair, lambda job_id: TaskSpec(
            TEXT_TASK, [job_id, first, segs, beam], text_queue(first)), beam=beam,
            total=len(segs), single=single, input_chars=sum(map(len, segs)),
            has_reference=refs is not None, blobs=blobs, by=by, **route.fields(self.settings),
            **extra)

    def _queue(self, kind: Kind, pair: str, task: Callable[[str], TaskSpec],
               by: Submitter | None = None, **fields: Any) -> Job:
        """Check the submitter's limits, write the job's record (theirs) with its first task
        as pending in one round trip, then send the task."""
        if by is not None:
            self._charge(by, fields.get("input_chars") or 0)
            fields["owner"] = by.owner
        job_id = new_job_id()
        planned = plan([task(job_id)])
        job = self.store.create(kind, pair, job_id=job_id, pending=pending_records(planned),
                                **fields)
        self.dispatcher.dispatch(planned)
        return job

    def _charge(self, by: Submitter, chars: int) -> None:
        """Refuse a job over the submitter's size limit, or over their characters of the
        day (counted here, once per accepted job)."""
        if by.max_chars and chars > by.max_chars:
            raise TooLargeError(f"the text has {chars:,} characters; this form accepts "
                                f"{by.max_chars:,} (an API key allows more)")
        if by.daily_chars and chars:
            day = time.strftime("%Y%m%d", time.gmtime())
            total = self.store.count_usage(by.owner, chars, day)
            if total > by.daily_chars:
                self.store.count_usage(by.owner, -chars, day)  # not accepted: not counted
                raise LimitError(f"this key has sent {total - chars:,} of its "
                                 f"{by.daily_chars:,} characters today (UTC); this request "
                                 f"needs {chars:,} more; the count starts again at midnight")

    def submit_document(self, data: bytes | str, pair: str, beam_size: int | None = None,
                        reference: bytes | str | None = None, filename: str | None = None,
                        retranslate: bool = False, by: Submitter | None = None) -> Job:
        """Queue a document job: a file of any supported format (translator/formats) up to
        MAX_DOCUMENT_BYTES, read here once so that a bad file is refused before it is queued;
        pasted text (a str) is plain text unless `filename` names another format. A
        reference for scoring is plain text. `retranslate`: PO and XLIFF entries that have a
        translation are translated again (by default they are kept)."""
        fields: dict[str, Any] = {"filename": (filename or "")[:200]}
        if retranslate:
            fields["retranslate"] = True
        limit = self.settings.max_document_bytes
        beam = self.check_beam(beam_size)
        raw = check_size(data, limit)
        fmt, parsed = read_document(raw, filename or (None if isinstance(data, bytes)
                                                      else "pasted.txt"),
                                    self.settings, bool(retranslate))
        route = self.check_pair(pair, " ".join(b.text for b in parsed.blocks[:50]))
        ref = decode_document(reference, limit) if reference else None
        blobs = {"input": raw}
        if ref is not None:
            blobs["reference"] = ref.encode("utf-8")
        return self._queue(Kind.DOCUMENT, route.pair, lambda job_id: TaskSpec(
            DOCUMENT_TASK, [job_id], docs_queue(route.steps[0])), beam=beam,
            input_chars=sum(len(block.text) for block in parsed.blocks), format=fmt.name,
            notes=parsed.notes or None, blocks=len(parsed.blocks),
            has_reference=ref is not None, blobs=blobs, by=by, **route.fields(self.settings),
            **fields)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a queued or running job: its tasks are revoked and running chunks stop at
        their next batch. Raises JobNotFound, or JobStateError if it has already finished."""
        job = self.store.require_job(job_id)
        if not self.store.finish(job_id, Status.CANCELLED, error="cancelled by the user"):
            raise JobStateError(f"job {job_id} has already finished ({job.status})", job)
        self.dispatcher.revoke(list(self.store.pending_tasks(job_id)))
        return self.store.require_job(job_id)
