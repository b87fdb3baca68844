"""Document jobs' keys: a segmented document's layout and per-chunk sources, each chunk's
translations, confidences, word alignments and pivot step, the set of chunks done, the claim
of the task assembling the document, and its translated file. A document's record is a job
record: `DocumentChunks` extends `JobRecords` (worker/store/jobs.py) and sets the record's
counts through it."""

from __future__ import annotations

import json
import os

from translator.inference.document import Document

from ..records import Job
from . import keys
from .jobs import JobRecords

ASSEMBLY_CLAIM_SECONDS = 60


class DocumentChunks(JobRecords):
    """A document job's layout, chunks and output, beside its record."""

    def save_document(self, job_id: str, doc: Document, chunk_size: int) -> int:
        """Store a segmented document as its layout and one source list per chunk of
        `chunk_size` sentences, and record the counts; returns the number of chunks."""
        sentences = doc.sentences
        n_chunks = -(-len(sentences) // chunk_size)
        pipe = self.redis.pipeline()
        pipe.set(keys.job(job_id, "layout"), json.dumps(doc.layout()), ex=self.ttl)
        for i in range(n_chunks):
            pipe.set(keys.chunk(job_id, "source", i),
                     json.dumps(sentences[i * chunk_size: (i + 1) * chunk_size]), ex=self.ttl)
        pipe.execute()
        self.update(job_id, total=len(sentences), chunks=n_chunks, chunk_size=chunk_size)
        return n_chunks

    def chunk_source(self, job: Job, index: int) -> list[str]:
        """The sentences of chunk `index`. A document segmented by a worker of the previous
        layout (sentences inside the layout, no source keys) is sliced from its layout."""
        raw = self.redis.get(keys.chunk(job.id, "source", index))
        if raw is not None:
            return json.loads(raw)
        _, sentences = _previous_layout(json.loads(self.redis.get(keys.job(job.id, "layout"))))
        return sentences[index * job.chunk_size: (index + 1) * job.chunk_size]

    def chunk_done(self, job_id: str, index: int) -> bool:
        return bool(self.redis.sismember(keys.job(job_id, "chunks_done"), index))

    def save_chunk(self, job_id: str, index: int, translations: list[str],
                   confidences: list[float] | None = None,
                   alignments: list[list[int]] | None = None) -> int:
        """Store chunk `index`'s translations, their confidences and word alignments
        (idempotent); returns how many chunks are done."""
        done_key, progress = keys.job(job_id, "chunks_done"), keys.job(job_id, "progress")
        pipe = self.redis.pipeline()
        pipe.set(keys.chunk(job_id, "chunk", index), json.dumps(translations), ex=self.ttl)
        if alignments is not None:
            pipe.set(keys.chunk(job_id, "alignment", index), json.dumps(alignments),
                     ex=self.ttl)
        if confidences is not None:
            pipe.set(keys.chunk(job_id, "confidence", index), json.dumps(confidences),
                     ex=self.ttl)
        pipe.hset(progress, str(index), len(translations))
        pipe.sadd(done_key, index)
        pipe.expire(done_key, self.ttl)
        pipe.expire(progress, self.ttl)
        self.touch(job_id, pipe)
        pipe.scard(done_key)
        return pipe.execute()[-1]

    def save_pivot_chunk(self, job_id: str, index: int, translations: list[str],
                         confidences: list[float], alignments: list[list[int]] | None) -> None:
        """A pivoting document's chunk after its first step (into the pivot language)."""
        self.save_blob(job_id, f"pivot:{index}", json.dumps(
            {"translations": translations, "confidence": confidences,
             "alignment": alignments}))

    def pivot_chunk(self, job_id: str, index: int) -> dict | None:
        raw = self.get_blob(job_id, f"pivot:{index}")
        return json.loads(raw) if raw else None

    def chunks_done(self, job_id: str) -> int:
        return self.redis.scard(keys.job(job_id, "chunks_done"))

    def claim_assembly(self, job_id: str) -> bool:
        """True for the one task that may assemble the document (the claim expires, so a
        task whose process died cannot hold it for good)."""
        return bool(self.redis.set(keys.job(job_id, "assembling"), os.getpid(), nx=True,
                                   ex=ASSEMBLY_CLAIM_SECONDS))

    def load_translated(self, job: Job) -> tuple[Document, list[tuple[str, float | None]]]:
        """The segmented document and its (translation, confidence) pairs, chunk by chunk in
        order (a chunk translated by a 0.1.0 worker has no confidences: None; that case may go
        JOB_TTL after the last 0.1.0 worker stopped)."""
        n = job.chunks
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.job(job.id, "layout"))
        pipe.mget([keys.chunk(job.id, "source", i) for i in range(n)])
        pipe.mget([keys.chunk(job.id, "chunk", i) for i in range(n)])
        pipe.mget([keys.chunk(job.id, "confidence", i) for i in range(n)])
        layout, sources, chunks, confidences = pipe.execute()[:4]
        layout = json.loads(layout)
        translations = []
        for raw, conf in zip(chunks, confidences):
            texts = json.loads(raw)
            scores = json.loads(conf) if conf else [None] * len(texts)
            translations.extend(zip(texts, scores))
        if all(s is None for s in sources) and layout and isinstance(layout[0][1], list):
            layout, sentences = _previous_layout(layout)
        else:
            sentences = [s for raw in sources for s in json.loads(raw)]
        return Document.from_layout(layout, sentences), translations

    def load_alignments(self, job: Job) -> list[list[int]] | None:
        """Every sentence's word alignment, chunk by chunk in order (None if a chunk has
        none: translated without, or by a 0.1.0 worker, which had no alignments)."""
        raw = self.redis.mget([keys.chunk(job.id, "alignment", i)
                               for i in range(job.chunks or 0)])
        if not raw or any(r is None for r in raw):
            return None
        return [a for r in raw for a in json.loads(r)]

    def save_output(self, job_id: str, data: bytes) -> None:
        """The translated file of a document job (idempotent: a whole value)."""
        self.redis.set(keys.job(job_id, "output"), data, ex=self.ttl)

    def get_output(self, job_id: str) -> bytes | None:
        return self.redis.get(keys.job(job_id, "output")) if keys.valid_id(job_id) else None

    def drop_chunks(self, job: Job) -> None:
        """Delete an assembled document's per-chunk keys (its result holds them all)."""
        n = job.chunks or 0
        self.redis.delete(*[keys.chunk(job.id, part, i)
                            for i in range(n) for part in keys.CHUNK_PARTS])


def _previous_layout(layout: list) -> tuple[list, list[str]]:
    """(layout, sentences) of a document segmented by a 0.1.0 worker, whose layout held each
    line's sentences: [[indent, [sentence, ...]], ...]. May go JOB_TTL after the last 0.1.0
    worker stopped (its jobs' keys have expired by then)."""
    return ([(indent, len(line)) for indent, line in layout],
            [s for _, line in layout for s in line])
