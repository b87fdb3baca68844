"""The Celery tasks, JSON in and out: each is its job's own work inside the one skeleton of
worker/lifecycle.py (claim, errors, finish). Task names and arguments are the wire format
between the web and workers of any version: they do not change."""

from __future__ import annotations

import json
import logging

from celery import shared_task

from translator.document import Document, Line, segment_document, translate_segments_scored
from translator.formats import FormatError, block_sentences, place, read_file

from .celery_app import CHUNK_TASK, DOCUMENT_TASK, EVALUATE_TASK, TEXT_TASK, docs_queue
from .dispatch import TaskSpec
from .errors import InputError
from .intake import decode_document
from .lifecycle import Finished, JobTask, Running, run_job
from .records import Job
from .runtime import worker_state
from .store import JobStore

log = logging.getLogger("worker")


def _scores(hyps: list[str], refs: list[str]) -> dict:
    from translator.metrics import score

    return score(hyps, refs)


# ---------------------------------------------------------------------------- text
@shared_task(name=TEXT_TASK, bind=True, base=JobTask)
def translate_text(self, job_id: str, pair: str, segments: list[str], beam: int) -> dict:
    """Translate a few segments (micro-batched with concurrent requests)."""
    return run_job(job_id, lambda running: _translate_text(running, pair, segments, beam))


def _translate_text(running: Running, pair: str, segments: list[str], beam: int) -> Finished:
    """Each segment is split into sentences (the documents' splitter), all of them translated
    in one micro-batched request, and each segment joined back with its line breaks. The
    result has each segment's translation and lowest sentence confidence, and every sentence
    as [source, translation] (the documents' format) with its confidence and segment."""
    batcher = worker_state().batcher()
    done = translate_segments_scored(
        lambda sentences: batcher.translate((pair, beam), sentences), segments,
        pair.split("-")[0])
    translations = [segment.text for segment in done]
    every = [(i, sentence) for i, segment in enumerate(done) for sentence in segment.sentences]
    result = {"translations": translations,
              "confidence": [_lowest(segment.sentences) for segment in done],
              "sentences": [[src, tgt] for _, (src, tgt, _) in every],
              "sentence_confidence": [conf for _, (_, _, conf) in every],
              "sentence_segment": [i for i, _ in every]}
    fields = {"done": len(segments), "output_chars": sum(map(len, translations))}
    ref = running.store.get_blob(running.job_id, "reference") if running.job.has_reference \
        else None
    if ref:
        fields["scores"] = _scores(translations, json.loads(ref))
    log.info("job %s: %d segment(s) translated", running.job_id, len(segments))
    return Finished(result, fields)


def _lowest(sentences: list[tuple[str, str, float | None]]) -> float | None:
    """A segment's confidence: its least confident sentence's (None for an empty segment)."""
    known = [conf for _, _, conf in sentences if conf is not None]
    return min(known) if known else None


# ---------------------------------------------------------------------------- documents
@shared_task(name=DOCUMENT_TASK, bind=True, base=JobTask)
def translate_document(self, job_id: str) -> dict:
    """Segment a document and fan its sentences out as chunk tasks on the pair's batch queue."""
    return run_job(job_id, _segment_document)


def _segment_document(running: Running) -> dict:
    state, job = worker_state(), running.job
    doc = _segment(running.store.get_blob(job.id, "input") or b"", job, state.settings)
    if not doc.sentences:
        raise InputError("the document has no text to translate")
    n_chunks = running.store.save_document(job.id, doc, state.settings.chunk_sentences)
    state.dispatcher.send(job.id, [TaskSpec(CHUNK_TASK, [job.id, index], docs_queue(job.pair))
                                   for index in range(n_chunks)])
    log.info("job %s: %d sentences in %d chunk(s)", job.id, len(doc.sentences), n_chunks)
    return {"status": "running", "chunks": n_chunks}


def _segment(raw: bytes, job: Job, settings) -> Document:
    """The document's sentences, one line of the layout per block of its file (a job of a
    release before formats: its text, line by line)."""
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
def translate_chunk(self, job_id: str, index: int) -> dict:
    """Translate chunk `index` of a document job, reporting progress after every batch; the
    task that completes the last chunk assembles the result."""

    def work(running: Running) -> Finished | dict:
        done = _translate_chunk(running, index)
        if done < running.job.chunks:
            return {"status": "chunk done", "chunk": index}
        if not running.store.claim_assembly(job_id):
            raise self.retry(countdown=5, max_retries=60)  # another task is assembling
        return _assemble(running.store, running.job)

    return run_job(job_id, work)


def _translate_chunk(running: Running, index: int) -> int:
    """Translate the chunk unless a previous delivery did; returns the chunks done."""
    store, job = running.store, running.job
    if store.chunk_done(job.id, index):
        return store.chunks_done(job.id)
    state = worker_state()
    sentences = store.chunk_source(job, index)
    translator = state.translator_for(job.pair)
    options = dict(beam_size=job.beam, batch_tokens=state.settings.batch_tokens,
                   on_batch=running.reporter(str(index)))
    aligned = job.format not in (None, "txt")  # inline markup is placed by alignment
    out = (translator.translate_aligned if aligned else translator.translate_scored)(
        sentences, **options)
    log.info("job %s: chunk %d done (%d sentences)", job.id, index, len(sentences))
    return store.save_chunk(job.id, index, [o.text for o in out], [o.confidence for o in out],
                            [o.alignment for o in out] if aligned else None)


def _assemble(store: JobStore, job: Job) -> Finished:
    """Join the chunks in order, write the translated file (the sentences placed on their
    blocks' spans, translator/formats/inline.py), score the text against a reference."""
    doc, scored = store.load_translated(job)
    translations = [text for text, _ in scored]
    result = {"sentences": [[s, t] for s, t in zip(doc.sentences, translations)],
              "sentence_confidence": [conf for _, conf in scored]}
    if job.format is None:  # segmented by a release before formats
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


# ---------------------------------------------------------------------------- evaluation
@shared_task(name=EVALUATE_TASK, bind=True, base=JobTask)
def evaluate_checkpoint(self, job_id: str, checkpoint: str) -> dict:
    """Translate a test set with a checkpoint; store BLEU, chrF, TER (signatures) and
    hypotheses."""
    return run_job(job_id, lambda running: _evaluate(running, checkpoint))


def _evaluate(running: Running, checkpoint: str) -> Finished:
    from translator.data import read_split

    state, store, job = worker_state(), running.store, running.job
    translator = state.evaluation_translator(checkpoint)
    store.update(job.id, pair=f"{translator.src_lang}-{translator.tgt_lang}")
    source = store.get_blob(job.id, "input")
    if source is not None:
        src = source.decode("utf-8").splitlines()
        refs = store.get_blob(job.id, "reference").decode("utf-8").splitlines()
    else:
        test = read_split(state.settings.testsets_dir, job.testset, translator.src_lang,
                          translator.tgt_lang)
        src, refs = test.src, test.tgt
    store.update(job.id, total=len(src))
    hyps = translator.translate(src, beam_size=job.beam, batch_tokens=state.settings.batch_tokens,
                                on_batch=running.reporter("0"))
    scores = _scores(hyps, refs)
    log.info("job %s: %s BLEU %.2f", job.id, checkpoint, scores["bleu"])
    return Finished({"hypotheses": hyps, "references": refs},
                    {"done": len(src), "scores": scores, "output_chars": sum(map(len, hyps))})
