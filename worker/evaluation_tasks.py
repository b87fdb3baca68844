"""The evaluation queue's tasks: a checkpoint translates a test set and is scored; an uploaded
system's hypotheses are scored; evaluations are compared. Every statistic of the workbench is
computed here (sacreBLEU's bootstrap intervals, paired tests, compare-mt's analyses), once, and
stored for the pages to read. Task names and arguments are the wire format (worker/tasks.py).

An evaluation's result: {"hypotheses", "references" (the first reference stream),
"more_references" (the others, when there are several), "sources" (when known), "segments"
(per segment: sentence chrF and BLEU, and the model's confidence for a checkpoint),
"confidence" (its correlation with sentence chrF, or None)}; its record's `scores` hold BLEU,
chrF, TER, their signatures and "intervals" ({metric: {"mean", "ci"}}: sacreBLEU's 95%
bootstrap, 1,000 resamples, its seed), and `reference_hash` names its board.
"""

from __future__ import annotations

import logging

from celery import shared_task

from translator.defaults import LENGTH_PENALTY

from .celery_app import COMPARE_TASK, EVALUATE_TASK, SCORE_TASK
from .checks import check_beam, resolve_checkpoint
from .errors import InputError
from .lifecycle import Finished, JobTask, Running, run_job, user_message
from .runtime import worker_state
from .store import valid_id
from .workbench import MAX_COMPARED, MAX_REFERENCES, reference_hash, reference_streams

log = logging.getLogger("worker")


@shared_task(name=EVALUATE_TASK, bind=True, base=JobTask)
def evaluate_checkpoint(self, job_id: str, checkpoint: str) -> dict:
    """Translate a test set with a checkpoint; store BLEU, chrF, TER (signatures, intervals),
    hypotheses and per-segment scores with the model's confidence."""
    return run_job(job_id, lambda running: _evaluate(running, checkpoint))


def _evaluate(running: Running, checkpoint: str) -> Finished:
    state, store, job = worker_state(), running.store, running.job
    check_beam(job.beam, task=True)
    translator = _direction(state.evaluation_translator(
        resolve_checkpoint(state.settings, checkpoint)), job.pair)
    # the record's length penalty (None: greedy, or queued by a web from before it was kept)
    alpha = LENGTH_PENALTY if job.alpha is None else job.alpha
    store.update(job.id, pair=f"{translator.src_lang}-{translator.tgt_lang}",
                 **({"alpha": alpha} if job.beam > 1 else {}))
    src, refs = _test_set(running, translator.src_lang, translator.tgt_lang)
    if src is None:
        raise InputError("the evaluation has references but no source to translate")
    store.update(job.id, total=len(src))
    scored = translator.translate_scored(src, beam_size=job.beam, alpha=alpha,
                                         batch_tokens=state.settings.batch_tokens,
                                         on_batch=running.reporter("0"))
    hyps = [s.text for s in scored]
    log.info("job %s: %s translated %d segments", job.id, checkpoint, len(src))
    return _scored(hyps, refs, src, [s.confidence for s in scored])


def _direction(translator, pair: str | None):
    """A multilingual checkpoint's view of the evaluation's `pair` (InputError without one,
    or for a direction it does not translate); a model of one pair as it is."""
    if not translator.multilingual:
        return translator
    from translator.errors import UserError

    if not pair:
        raise InputError(f"this multilingual checkpoint translates "
                         f"{', '.join(translator.directions)}: choose the pair to evaluate")
    try:
        return translator.for_pair(*pair.split("-", 1))
    except UserError as exc:
        raise InputError(str(exc)) from None


@shared_task(name=SCORE_TASK, bind=True, base=JobTask)
def score_system(self, job_id: str) -> dict:
    """Score an uploaded system's hypotheses like a checkpoint's translation."""
    return run_job(job_id, _score_uploaded)


def _score_uploaded(running: Running) -> Finished:
    job = running.job
    raw = running.store.get_blob(job.id, "hypotheses")
    if raw is None:
        raise InputError("the evaluation has no hypotheses (they may have expired)")
    src_lang, _, tgt_lang = (job.pair or "-").partition("-")
    src, refs = _test_set(running, src_lang, tgt_lang)
    hyps = raw.decode("utf-8").split("\n")
    if len(hyps) != len(refs[0]):
        raise InputError(f"the hypotheses have {len(hyps)} lines where {len(refs[0])} are "
                         f"expected")
    return _scored(hyps, refs, src, None)


def _test_set(running: Running, src_lang: str, tgt_lang: str
              ) -> tuple[list[str] | None, list[list[str]]]:
    """(source lines or None, reference streams) of the job: its uploads, or its named test
    set of the pair read from MULTI30K_DIR."""
    import json

    from translator.data.corpus import read_split

    store, job = running.store, running.job
    reference = store.get_blob(job.id, "reference")
    if reference is None:
        if not src_lang or not tgt_lang:
            raise InputError("the evaluation names no language pair for its test set")
        test = read_split(worker_state().settings.testsets_dir, job.testset, src_lang, tgt_lang)
        return test.src, [test.tgt]
    more = store.get_blob(job.id, "references")
    refs = [reference.decode("utf-8"), *(json.loads(more) if more else [])]
    if len(refs) > MAX_REFERENCES:
        raise InputError(f"more than {MAX_REFERENCES} references")
    source = store.get_blob(job.id, "input")
    return (source.decode("utf-8").split("\n") if source is not None else None,
            [r.split("\n") for r in refs])


def _scored(hyps: list[str], refs: list[list[str]], src: list[str] | None,
            confidence: list[float] | None) -> Finished:
    """The finished evaluation: scores with intervals, per-segment scores, its board."""
    from translator.evaluation.metrics import score_streams
    from translator.evaluation.sentences import segment_scores
    from translator.evaluation.significance import check_references, confidence_intervals

    check_references(refs, len(hyps))
    scores = score_streams(hyps, refs)
    intervals = confidence_intervals(hyps, refs)
    scores["intervals"] = {k: {"mean": v["mean"], "ci": v["ci"]} for k, v in intervals.items()}
    result = {"hypotheses": hyps, "references": refs[0], **segment_scores(hyps, refs, confidence)}
    if len(refs) > 1:
        result["more_references"] = refs[1:]
    if src is not None:
        result["sources"] = src
    return Finished(result, {"done": len(hyps), "total": len(hyps), "scores": scores,
                             "output_chars": sum(map(len, hyps)),
                             "reference_hash": reference_hash(refs)})


# ---------------------------------------------------------------------------- comparisons
@shared_task(name=COMPARE_TASK)
def compare_evaluations(ids: list, detail: bool) -> None:
    """Compare finished evaluations (the first the baseline) and store the comparison
    (`Workbench.comparison` reads it); a comparison that cannot be made is stored as its
    error. A forged message (not a list of job ids) is refused and stores nothing."""
    if not (isinstance(ids, list) and 2 <= len(ids) <= MAX_COMPARED
            and all(valid_id(i) for i in ids) and isinstance(detail, bool)):
        log.warning("compare task with malformed arguments refused")
        return
    store = worker_state().store
    try:
        doc = _comparison(store, ids, detail)
    except Exception as exc:  # noqa: BLE001 - the page shows what went wrong
        message = user_message(exc)
        (log.exception if message.startswith("internal") else log.warning)(
            "comparison of %s failed: %s", ids, message)
        doc = {"error": message}
    store.save_comparison(ids, detail, doc)


def _comparison(store, ids: list[str], detail: bool) -> dict:
    from translator.evaluation.comparison import compare
    from translator.evaluation.sentences import segment_scores

    jobs = store.get_jobs(ids)
    results = [store.get_result(i) for i in ids]
    if not all(jobs) or not all(results):
        raise InputError("an evaluation of the comparison is gone (deleted or expired)")
    streams = [reference_streams(r) for r in results]
    if any(s != streams[0] for s in streams[1:]):
        raise InputError("the evaluations have different references: only evaluations of "
                         "one test set are compared")
    refs, systems = streams[0], [r["hypotheses"] for r in results]
    known = [r["sources"] for r in results if r.get("sources")]
    if any(s != known[0] for s in known[1:]) or len({j.pair for j in jobs if j.pair}) > 1:
        raise InputError("the evaluations translate different sources (another language "
                         "pair): only evaluations of one test set and pair are compared")
    sources = known[0] if known else None
    names = [_name(job) for job in jobs]
    lines, frequencies = _frequencies(jobs, refs) if detail else (None, None)
    doc = compare(names, systems, refs, sources=sources, detail=detail, frequency_lines=lines,
                  frequencies_from=frequencies and (frequencies["file"] or "the references"))
    doc.update(ids=ids, signatures=doc["rows"][0]["signatures"])
    if detail:
        doc["analysis"]["frequencies"] = frequencies
        segments = [r.get("segments") or segment_scores(r["hypotheses"], refs, None)["segments"]
                    for r in results]
        doc.update(sources=sources, references=refs, hypotheses=systems, sentence=segments,
                   confidence=[r.get("confidence") for r in results])
    return doc


def _frequencies(jobs, refs: list[list[str]]) -> tuple[list[str], dict]:
    """The lines word frequencies come from: the training targets the first checkpoint of
    the comparison records while its files are unchanged, else the references (an uploaded
    system records no corpus); with where they came from and why."""
    from translator.evaluation.evaluate import analysis_frequencies

    model = next((job.model for job in jobs if job.model and not job.system), None)
    checkpoint = None
    if model is not None:
        try:
            checkpoint = resolve_checkpoint(worker_state().settings, model)
        except InputError:  # no longer listed: the references' frequencies
            pass
    pair = next((job.pair for job in jobs if job.pair), "")
    lines, frequencies = analysis_frequencies(refs, None, checkpoint,
                                              pair.partition("-")[2] or None)
    if model is None:
        frequencies["reason"] = "uploaded systems record no training corpus"
    return lines, frequencies


def _name(job) -> str:
    """How a system is called on the pages: an uploaded system's name, a checkpoint's name
    with its beam."""
    if job.system:
        return job.system
    return f"{job.model} ({job.decoding})" if job.beam else str(job.model)
