"""Typed job records: `Job` with its `Status` and `Kind`, and their form in a Redis hash.

A record is the hash `nmt:job:<id>` whose field values are JSON (a status reads `"done"` with
its quotes). `Job.from_hash` and `encode_fields` are the two ends of that encoding, used by the
store (worker/store/) alone. The field names are the wire format shared with workers of other
versions, so they never change meaning; fields this code does not know (written by a newer
worker) are kept in `extra` and shown unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any


class Status(str, Enum):
    """queued -> running -> done | failed | cancelled; a final status never changes."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:  # templates and messages show the plain word
        return self.value

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})


class Kind(str, Enum):
    TEXT = "text"
    DOCUMENT = "document"
    EVALUATION = "evaluation"

    def __str__(self) -> str:
        return self.value


@dataclass
class Job:
    """One job's record. Optional fields are None until a step of the job sets them."""

    id: str
    kind: Kind
    status: Status
    pair: str  # "" for an evaluation until its checkpoint is loaded
    created: float
    done: int = 0  # sentences translated (summed over chunks while running)
    total: int = 0  # sentences in all
    beam: int | None = None
    # evaluation of a checkpoint: the GNMT length penalty of its beam search (None: a record
    # from before it was kept; 0.6 was the default until issue 30 made it 1.0)
    alpha: float | None = None
    model: str | None = None  # the checkpoint path (or name, for evaluations)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    scores: dict | None = None  # sacreBLEU's BLEU, chrF, TER and their signatures
    scores_error: str | None = None
    input_chars: int | None = None
    output_chars: int | None = None
    has_reference: bool | None = None
    single: bool | None = None  # text: the input was one string, not a list
    filename: str | None = None  # document: the uploaded file's name
    format: str | None = None  # document: its format (translator/formats), None before formats
    notes: list | None = None  # document: what reading it did (an encoding detected)
    blocks: int | None = None  # document: translatable blocks (paragraphs, cells, subtitles)
    retranslate: bool | None = None  # document: PO/XLIFF entries with a translation redone
    pivot: str | None = None  # translated through this language (two models, two steps)
    alternatives: int | None = None  # text: alternative translations asked for (n-best)
    detected: dict | None = None  # source `auto`: {"language", "confidence"} detected
    owner: str | None = None  # who submitted it (web/access.py: a key's hash or a session's)
    testset: str | None = None  # evaluation: a named test set, or "upload"
    system: str | None = None  # evaluation of uploaded hypotheses: the system's name
    references: int | None = None  # evaluation: reference streams (more than one: several)
    reference_hash: str | None = None  # evaluation: of its references (its board), once scored
    chunks: int | None = None  # document: number of chunks
    chunk_size: int | None = None  # document: sentences per chunk
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def decoding(self) -> str | None:
        """A checkpoint evaluation's search as the pages name it: "beam 5, length penalty 1"
        (the beam alone for a record from before the penalty was kept); None without a beam."""
        if not self.beam:
            return None
        if self.alpha is None or self.beam == 1:
            return f"beam {self.beam}"
        return f"beam {self.beam}, length penalty {self.alpha:g}"

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes], progress: list[bytes] = ()) -> Job:
        """The record from its hash and its per-chunk progress (summed while unfinished)."""
        values = {k.decode(): json.loads(v) for k, v in raw.items()}
        job = cls(**{k: v for k, v in values.items() if k in FIELD_NAMES},
                  extra={k: v for k, v in values.items() if k not in FIELD_NAMES})
        job.kind, job.status = Kind(job.kind), Status(job.status)
        if progress and job.status != Status.DONE:
            job.done = sum(int(v) for v in progress)
        return job

    @property
    def steps(self) -> list[str]:
        """The model pairs that translate the job, in order (two when it pivots)."""
        if not self.pivot:
            return [self.pair]
        src, _, tgt = self.pair.partition("-")
        return [f"{src}-{self.pivot}", f"{self.pivot}-{tgt}"]

    @property
    def queued_seconds(self) -> float:
        return (self.started or self.finished or time.time()) - self.created

    @property
    def run_seconds(self) -> float | None:
        return ((self.finished or time.time()) - self.started) if self.started else None

    @property
    def progress(self) -> float:
        if self.total:
            return self.done / self.total
        return 1.0 if self.status == Status.DONE else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The record as API clients see it: the fields that are set, then the timings."""
        out = {k: v for k in FIELD_ORDER if (v := getattr(self, k)) is not None}
        out.update(self.extra)
        out.update(queued_seconds=self.queued_seconds, run_seconds=self.run_seconds,
                   progress=self.progress)
        return out

    # Read-only mapping access to the JSON view (`job["status"]`, `"scores" in job`), for
    # clients and tests that handle records as the JSON objects the API sends. The package's
    # own code reads the typed attributes.
    def __getitem__(self, name: str) -> Any:
        return self.to_dict()[name]

    def __contains__(self, name: object) -> bool:
        return name in self.to_dict()

    def get(self, name: str, default: Any = None) -> Any:
        return self.to_dict().get(name, default)


FIELD_ORDER = tuple(f.name for f in fields(Job) if f.name != "extra")
FIELD_NAMES = frozenset(FIELD_ORDER)


def encode_fields(values: dict[str, Any]) -> dict[str, str]:
    """Field values as JSON for the record's hash; raises TypeError for an unknown field."""
    unknown = set(values) - FIELD_NAMES
    if unknown:
        raise TypeError(f"not job record fields: {sorted(unknown)}")
    return {k: json.dumps(v) for k, v in values.items()}


def encoded_status(status: Status) -> str:
    """A status as it reads in the hash (JSON), for comparisons inside Lua scripts."""
    return json.dumps(status.value)


@dataclass(frozen=True)
class Submitter:
    """Who submits a job and the limits that apply to them (web/access.py says who): the
    record's `owner`, characters per UTC day (an API key's KEY_DAILY_CHARS) and characters
    per job (the open web form's FORM_MAX_CHARS); 0: no limit."""

    owner: str
    daily_chars: int = 0
    max_chars: int = 0
