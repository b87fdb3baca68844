"""The Celery tasks, JSON in and out: each is its job's own work inside the one skeleton of
worker/lifecycle.py (claim, errors, finish). Task names and arguments are the wire format
between the web and workers of any version: they do not change."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from celery import shared_task

from translator.formats import FormatError, block_sentences, place, read_file
from translator.inference.document import (
    Document,
    Line,
    segment_document,
    translate_segments_scored,
)

from .celery_app import CHUNK_TASK, DOCUMENT_TASK, TEXT_TASK, docs_queue, text_queue
from .checks import check_beam, check_segments, decode_document
from .dispatch import TaskSpec
from .errors import InputError
from .lifecycle import Finished, JobTask, Running, run_job
from .records import Job
from .runtime import worker_state
from .store import JobStore

log = logging.getLogger("worker")


def _scores(hyps: list[str], refs: list[str]) -> dict:
    from translator.evaluation.metrics import score

    return score(hyps, refs)


# ---------------------------------------------------------------------------- text
@shared_task(name=TEXT_TASK, bind=True, base=JobTask)
def translate_text(self, job_id: str, pair: str, segments: list[str], beam: int) -> dict:
    """Translate a few segments (micro-batched with concurrent requests)."""
    return run_job(job_id, lambda running: _translate_text(running, pair, segments, beam))


def _translate_text(running: Running, pair: str, segments: list[str], beam: int
                    ) -> Finished | dict:
    """Each segment is split into sentences (the documents' splitter), all of them translated
    in one micro-batched request, and each segment joined back with its line breaks. The
    result has each segment's translation and lowest sentence confidence, and every sentence
    as [source, translation] (the documents' format) with its confidence and segment; with
    `alternatives`, each segment's k-th alternative joins its sentences' k-th other
    hypotheses.

    A pivoting job runs in two tasks on the two pairs' queues: the first translates into the
    pivot language and sends the second, which translates those sentences on (one to one,
    not split again) and finishes the job; a sentence's confidence is the lower of its two
    steps'."""
    job = running.job
    steps = job.steps
    if pair not in steps:
        raise InputError(f"this task's pair {pair} is not a step of the job ({job.pair})")
    if pair == steps[0]:  # a second step's sentences come from the first step's blob
        _check_task(worker_state().settings, segments, beam)
    else:
        check_beam(beam, task=True)
    if len(steps) > 1 and pair == steps[0]:
        return _first_step(running, pair, segments, beam, steps[1])
    batched = worker_state().translate_batched
    n = (job.alternatives or 0) + 1
    if len(steps) > 1:  # the second step: the first step's sentences, on
        first = json.loads(running.store.get_blob(job.id, "pivot") or b"null")
        if first is None:
            raise InputError("the first step's translation of this pivoting job is gone")
        # the job's own segments (this task's argument is the pivot sentences, kept in the
        # message for the wire format; they are read from the pivot blob)
        segments = json.loads(running.store.get_blob(job.id, "input"))
        translate = _pivoted(lambda mine: batched(pair, beam, n, mine), first)
    else:
        def translate(sentences):
            return batched(pair, beam, n, sentences)
    others: list[list[str]] = []  # each sentence's alternatives, in order

    def scored(sentences: list[str]) -> list[tuple[str, float | None]]:
        out = translate(sentences)
        others.extend(o.alternatives for o in out)
        return [(o.text, o.confidence) for o in out]

    source_lang = job.pair.split("-")[0]
    done = translate_segments_scored(scored, segments, source_lang)
    translations = [segment.text for segment in done]
    every = [(i, sentence) for i, segment in enumerate(done) for sentence in segment.sentences]
    result = {"translations": translations,
              "confidence": [_lowest(segment.sentences) for segment in done],
              "sentences": [[src, tgt] for _, (src, tgt, _) in every],
              "sentence_confidence": [conf for _, (_, _, conf) in every],
              "sentence_segment": [i for i, _ in every]}
    if n > 1:
        result["alternatives"] = _alternatives(segments, source_lang, others, n - 1)
    if len(steps) > 1:
        result["pivot"] = {"via": job.pivot, "translations": first["translations"]}
    fields = {"done": len(segments), "output_chars": sum(map(len, translations))}
    ref = running.store.get_blob(job.id, "reference") if job.has_reference else None
    if ref:
        fields["scores"] = _scores(translations, json.loads(ref))
    log.info("job %s: %d segment(s) translated", running.job_id, len(segments))
    return Finished(result, fields)


def _check_task(settings, segments, beam) -> None:
    """A task's own arguments checked again (the worker trusts no message: one injected into
    Redis gets the limits a submitted job gets)."""
    check_segments(segments, settings, "the task's text")
    check_beam(beam, task=True)


def _first_step(running: Running, pair: str, segments: list[str], beam: int, second: str
                ) -> dict:
    """A pivoting job's first step: its sentences into the pivot language, kept for the
    second step (`pivot` blob), which is sent on the second pair's queue."""
    batched = worker_state().translate_batched
    mids: list[tuple[str, float | None]] = []

    def translate(sentences):
        out = batched(pair, beam, 1, sentences)
        mids.extend((o.text, o.confidence) for o in out)
        return [(o.text, o.confidence) for o in out]

    done = translate_segments_scored(translate, segments, pair.split("-")[0])
    running.store.save_blob(running.job_id, "pivot", json.dumps({
        "sentences": [t for t, _ in mids], "confidence": [c for _, c in mids],
        "translations": [segment.text for segment in done]}))
    worker_state().dispatcher.send(running.job_id, [TaskSpec(
        TEXT_TASK, [running.job_id, second, [t for t, _ in mids], beam], text_queue(second))])
    log.info("job %s: first step (%s) done, %d sentence(s) sent on", running.job_id, pair,
             len(mids))
    return {"status": "first step done", "pair": pair}


def _pivoted(batched, first: dict):
    """`translate` for the second step: the sentences of the segments are the first step's
    (the same splitter on the same text), so their pivot translations are translated instead,
    each confidence the lower of the two."""
    mids, confidences = first["sentences"], first["confidence"]
    position = 0

    def translate(sentences: list[str]):
        nonlocal position
        mine = mids[position: position + len(sentences)]
        if len(mine) != len(sentences):
            raise InputError("the first step's sentences do not match the text's")
        out = batched(mine)
        own = confidences[position: position + len(sentences)]
        position += len(sentences)
        return [o._replace(confidence=_least((o.confidence, c))) for o, c in zip(out, own)]

    return translate


def _least(values: Iterable[float | None]) -> float | None:
    """The lowest of the known values (None where none is known)."""
    return min((v for v in values if v is not None), default=None)


def _alternatives(segments: list[str], lang: str, others: list[list[str]], k: int
                  ) -> list[list[str]]:
    """Each segment's k alternatives: the j-th joins its sentences' j-th other hypotheses (a
    sentence with fewer gives its best), laid out as the segment."""
    out, position = [], 0
    for segment in segments:
        doc = segment_document(segment, lang)
        mine = others[position: position + len(doc.sentences)]
        position += len(doc.sentences)
        out.append([doc.assemble([alts[j] for alts in mine]) for j in range(k)])
    return out


def _lowest(sentences: list[tuple[str, str, float | None]]) -> float | None:
    """A segment's confidence: its least confident sentence's (None for an empty segment)."""
    return _least(conf for _, _, conf in sentences)


# ---------------------------------------------------------------------------- documents
@shared_task(name=DOCUMENT_TASK, bind=True, base=JobTask)
def translate_document(self, job_id: str) -> dict:
    """Segment a document and fan its sentences out as chunk tasks on the pair's batch queue."""
    return run_job(job_id, _segment_document)


def _segment_document(running: Running) -> dict:
    state, job = worker_state(), running.job
    raw = running.store.get_blob(job.id, "input") or b""
    if len(raw) > state.settings.max_document_bytes:  # checked again: trust no message
        raise InputError(f"the document has {len(raw):,} bytes; the limit is "
                         f"{state.settings.max_document_bytes:,}")
    check_beam(job.beam, task=True)
    doc = _segment(raw, job, state.settings)
    if not doc.sentences:
        raise InputError("the document has no text to translate")
    n_chunks = running.store.save_document(job.id, doc, state.settings.chunk_sentences)
    state.dispatcher.send(job.id, [TaskSpec(CHUNK_TASK, [job.id, index],
                                            docs_queue(job.steps[0]))
                                   for index in range(n_chunks)])
    log.info("job %s: %d sentences in %d chunk(s)", job.id, len(doc.sentences), n_chunks)
    return {"status": "running", "chunks": n_chunks}


def _segment(raw: bytes, job: Job, settings) -> Document:
    """The document's sentences, one line of the layout per block of its file (a job of 0.1.0,
    which had no formats: its text, line by line; may go JOB_TTL after its last worker)."""
    lang = job.pair.split("-")[0]
    if job.format is None:
        return segment_document(decode_document(raw, settings.max_document_bytes), lang)
    parsed = _parse(raw, job, settings)
    return Document(tuple(Line("", tuple(block_sentences(block, lang)))
                          for block in parsed.blocks))


def _parse(raw: bytes, job: Job, settings):
    try:
        return read_file(raw, job.format, settings.format_limits(), bool(job.retranslate))
    except FormatError as exc:
        raise InputError(str(exc)) from None


@shared_task(name=CHUNK_TASK, bind=True, base=JobTask)
def translate_chunk(self, job_id: str, index: int, step: int = 0) -> dict:
    """Translate chunk `index` of a document job, reporting progress after every batch; the
    task that completes the last chunk assembles the result. A pivoting job's chunk is
    translated in two tasks (`step` 0 and 1) on the two pairs' queues."""

    def work(running: Running) -> Finished | dict:
        if not isinstance(index, int) or not 0 <= index < (running.job.chunks or 0) \
                or step not in (0, 1):
            raise InputError(f"the job has no chunk {index!r} (step {step!r})")
        if step == 0 and len(running.job.steps) > 1:
            return _first_chunk_step(running, index)
        done = _translate_chunk(running, index)
        if done < running.job.chunks:
            return {"status": "chunk done", "chunk": index}
        if not running.store.claim_assembly(job_id):
            raise self.retry(countdown=5, max_retries=60)  # another task is assembling
        return _assemble(running.store, running.job)

    return run_job(job_id, work)


def _first_chunk_step(running: Running, index: int) -> dict:
    """A pivoting document's chunk into the pivot language, kept for the second step, which
    is sent on the second pair's queue (half the chunk's progress)."""
    store, job, state = running.store, running.job, worker_state()
    if store.chunk_done(job.id, index):
        return {"status": "chunk done", "chunk": index}
    if store.pivot_chunk(job.id, index) is None:
        sentences = store.chunk_source(job, index)
        out = _translate(job, job.steps[0], sentences, running.reporter(str(index), 0.5))
        aligned = _aligned(job)
        store.save_pivot_chunk(job.id, index, [o.text for o in out],
                               [o.confidence for o in out],
                               [o.alignment for o in out] if aligned else None)
    state.dispatcher.send(job.id, [TaskSpec(CHUNK_TASK, [job.id, index, 1],
                                            docs_queue(job.steps[1]))])
    return {"status": "first step done", "chunk": index}


def _aligned(job: Job) -> bool:
    return job.format not in (None, "txt")  # inline markup is placed by alignment


def _translate(job: Job, pair: str, sentences: list[str], on_batch) -> list:
    state = worker_state()
    check_beam(job.beam, task=True)
    translator = state.translator_for(pair)
    options = dict(beam_size=job.beam, batch_tokens=state.settings.batch_tokens,
                   on_batch=on_batch)
    return (translator.translate_aligned if _aligned(job) else translator.translate_scored)(
        sentences, **options)


def _translate_chunk(running: Running, index: int) -> int:
    """Translate the chunk unless a previous delivery did; returns the chunks done. The
    second step of a pivot translates the first step's sentences, each output word aligned
    through the pivot word it is aligned to, each confidence the lower of the two steps'."""
    store, job = running.store, running.job
    if store.chunk_done(job.id, index):
        return store.chunks_done(job.id)
    first = store.pivot_chunk(job.id, index) if len(job.steps) > 1 else None
    if len(job.steps) > 1 and first is None:
        raise InputError("the first step's translation of this chunk is gone")
    sentences = first["translations"] if first else store.chunk_source(job, index)
    reporter = running.reporter(str(index), 0.5, len(sentences) / 2) if first \
        else running.reporter(str(index))
    out = _translate(job, job.steps[-1], sentences, reporter)
    texts, confidences = [o.text for o in out], [o.confidence for o in out]
    alignments = [o.alignment for o in out] if _aligned(job) else None
    if first:
        confidences = [_least((a, b)) for a, b in zip(confidences, first["confidence"])]
        if alignments is not None and first["alignment"] is not None:
            alignments = [[back[a] if a < len(back) else 0 for a in mine] if back else mine
                          for mine, back in zip(alignments, first["alignment"])]
        elif alignments is not None:
            alignments = None
    log.info("job %s: chunk %d done (%d sentences)", job.id, index, len(sentences))
    return store.save_chunk(job.id, index, texts, confidences, alignments)


def _assemble(store: JobStore, job: Job) -> Finished:
    """Join the chunks in order, write the translated file (the sentences placed on their
    blocks' spans, translator/formats/inline.py), score the text against a reference."""
    doc, scored = store.load_translated(job)
    translations = [text for text, _ in scored]
    result = {"sentences": [[s, t] for s, t in zip(doc.sentences, translations)],
              "sentence_confidence": [conf for _, conf in scored]}
    if job.format is None:  # segmented by 0.1.0 (no formats); may go JOB_TTL after its last worker
        text = doc.assemble(translations)
    else:
        text, data = _write(store, job, doc, translations)
        store.save_output(job.id, data)
        result.update(format=job.format, output_bytes=len(data))
    result = {"text": text, **result}
    fields = {"done": len(translations), "output_chars": len(text)}
    ref = store.get_blob(job.id, "reference")
    if ref:
        out_lines = [ln for ln in text.split("\n") if ln.strip()]
        ref_lines = [ln for ln in ref.decode("utf-8").splitlines() if ln.strip()]
        if len(out_lines) == len(ref_lines):
            fields["scores"] = _scores(out_lines, ref_lines)
        else:
            fields["scores_error"] = (f"the reference has {len(ref_lines)} non-blank lines and "
                                      f"the translation {len(out_lines)}: not scored")
    log.info("job %s: document assembled (%d sentences)", job.id, len(translations))
    return Finished(result, fields, then=lambda: store.drop_chunks(job))


def _write(store: JobStore, job: Job, doc: Document, translations: list[str]
           ) -> tuple[str, bytes]:
    """(plain text, file) of the translated document: its file read again (the same blocks
    as when it was segmented), the translations placed on the spans of each block."""
    settings = worker_state().settings
    parsed = _parse(store.get_blob(job.id, "input") or b"", job, settings)
    spans = place(parsed, [list(line.sentences) for line in doc.lines], translations,
                  store.load_alignments(job))
    data = parsed.write(spans, job.pair.split("-")[1])
    if job.format == "txt":
        return parsed.decoded.decode(data), data
    return "\n".join("".join(block) for block in spans if "".join(block).strip()), data
