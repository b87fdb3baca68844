"""The evaluation workbench's intake: evaluations of checkpoints and of uploaded systems
(hypothesis files) checked and queued, comparisons of evaluations requested from the evaluation
queue, and an evaluation deleted by its owner. Part of `Intake` (worker/intake.py); no torch.

Every score and statistic is computed on the evaluation queue (worker/evaluation_tasks.py),
never in a web request: a comparison that is not stored yet is queued and reported pending.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from translator.checkpoint_file import periodic_step, spec_directions
from translator.defaults import LENGTH_PENALTY
from translator.errors import CheckpointError
from translator.languages import valid_pair

from .celery_app import COMPARE_TASK, EVAL_QUEUE, EVALUATE_TASK, SCORE_TASK
from .checks import (
    MAX_MEMBERS,
    decode_document,
    known_checkpoints,
    listed_members,
    served_name,
)
from .dispatch import TaskSpec
from .errors import InputError, JobNotFound, JobStateError
from .records import Job, Kind, Status, Submitter

MAX_REFERENCES = 8
"""Reference streams one evaluation may have (sacreBLEU takes any number; a form, a few)."""

MAX_HISTORY = 50
"""Periodic checkpoints one click on a run's history evaluates (each is a job)."""

MAX_COMPARED = 20
"""Systems one comparison may hold (a leaderboard board's rows are compared in one)."""

_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


def reference_hash(refs: list[list[str]]) -> str:
    """What names a board: the reference streams' content (evaluations with the same
    references share a board, named test set or not)."""
    return hashlib.sha256(json.dumps(refs, ensure_ascii=False).encode()).hexdigest()[:16]


def reference_streams(result: dict) -> list[list[str]]:
    """An evaluation result's reference streams (`references` is the first, as before there
    were several; `more_references` the others)."""
    return [result["references"], *result.get("more_references", [])]


def _lines(text: str) -> list[str]:
    """An upload's lines: split at newlines only (a line may hold U+2028 or a form feed, as
    sacreBLEU's files may), a CR before them dropped, no empty line after the last newline."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if len(lines) > 1 and lines[-1] == "" else lines


def _named(what: str, check, *args):
    """`check(*args)`, its InputError prefixed with what was checked (`hypotheses: ...`)."""
    try:
        return check(*args)
    except InputError as exc:
        raise type(exc)(f"{what}: {exc}") from None


def history_checkpoints(known: dict[str, str], run: str) -> list[tuple[int, str]]:
    """[(step, checkpoint name)] of a run's periodic checkpoints among the listed ones."""
    found = []
    for name in known:
        parent, _, file = name.partition("/")
        if parent == run and (step := periodic_step(file)) is not None:
            found.append((step, name))
    return sorted(found)


class Workbench:
    """Intake's evaluation methods (mixed into `Intake`, whose store, settings, `_queue`,
    `check_beam` and dispatcher they use)."""

    def submit_evaluation(self, checkpoint: str | None = None, testset: str | None = None,
                          source: bytes | str | None = None,
                          reference: bytes | str | list | None = None,
                          beam_size: int | None = None, by: Submitter | None = None,
                          hypotheses: bytes | str | None = None, system: str | None = None,
                          pair: str | None = None) -> Job:
        """Queue an evaluation: of a known checkpoint (by name), or of an uploaded system's
        `hypotheses` (one line per segment) named `system`; on a named test set (of the
        checkpoint's pair, or of `pair` for a system and for a multilingual checkpoint, which
        is evaluated in that direction), or on an uploaded source and one or
        several references (`reference`: a text or a list of up to MAX_REFERENCES). Bad input
        raises InputError and stores nothing."""
        if (checkpoint is None) == (hypotheses is None):
            raise InputError("give either a checkpoint or a system's hypotheses")
        if pair is not None and not (isinstance(pair, str) and valid_pair(pair)):
            raise InputError(f"`pair` must be a language pair such as de-en, not "
                             f"{str(pair)[:20]!r}")
        limit = self.settings.max_document_bytes
        refs = self._references(reference, limit)
        src = (None if source is None
               else _lines(_named("source", decode_document, source, limit)))
        fields: dict[str, Any] = {"testset": "upload" if refs else testset or "upload",
                                  "references": max(len(refs), 1)}
        if checkpoint is not None:
            pair = self._served_pair(checkpoint, pair)
            beam, decoding = self._checkpoint_decoding(checkpoint, beam_size)
            fields.update(decoding)
            if not refs and src is not None or refs and src is None:
                raise InputError("upload both a source and a reference")
        else:
            fields["system"] = self._system_name(system)
            beam = None
        hyps = (None if hypotheses is None
                else _lines(_named("hypotheses", decode_document, hypotheses, limit)))
        expected = self._expected_lines(refs, src, testset, hyps, pair)
        if hyps is not None and len(hyps) != expected:
            raise InputError(f"the hypotheses have {len(hyps)} lines where {expected} are "
                             f"expected (one per line of the "
                             f"{'reference' if refs else f'test set {testset}'})")
        blobs = self._blobs(src, refs, hyps)
        if src is not None or hyps is not None:  # uploads count against the caller's limits
            fields["input_chars"] = sum(len(b) for b in blobs.values())
        if hyps is not None:
            fields["total"] = len(hyps)
            return self._queue(Kind.EVALUATION, pair or "", lambda job_id: TaskSpec(
                SCORE_TASK, [job_id], EVAL_QUEUE), blobs=blobs, by=by, **fields)
        return self._queue(Kind.EVALUATION, pair or "", lambda job_id: TaskSpec(
            EVALUATE_TASK, [job_id, checkpoint], EVAL_QUEUE), beam=beam, blobs=blobs or None,
            by=by, **fields)

    def _checkpoint_decoding(self, checkpoint: str, beam_size: int | None
                             ) -> tuple[int, dict[str, Any]]:
        """The beam a listed checkpoint (or ensemble) decodes with and what the evaluation's
        record says of it; InputError for one not listed or a bad beam."""
        if listed_members(known_checkpoints(self.settings), checkpoint) is None:
            raise InputError(f"unknown checkpoint {str(checkpoint)[:100]!r}: choose one of "
                             f"the listed checkpoints, or up to {MAX_MEMBERS} of them "
                             f"joined by + (an ensemble)")
        beam = self.check_beam(beam_size)
        fields: dict[str, Any] = {"model": str(checkpoint)[:300]}
        if beam > 1:  # (greedy search has no length penalty)
            fields["alpha"] = LENGTH_PENALTY  # the task decodes with what the record says
        return beam, fields

    def _expected_lines(self, refs: list[list[str]], src: list[str] | None,
                        testset: str | None, hyps: list[str] | None,
                        pair: str | None) -> int | None:
        """The lines the hypotheses must have: the references' (the source's too, when
        uploaded), or the named test set's (None when there are no hypotheses to count).
        InputError when neither references nor a valid test set name are given."""
        if refs:
            expected = len(refs[0])
            if src is not None and len(src) != expected:
                raise InputError(f"the source has {len(src)} lines and the reference "
                                 f"{expected}: one source line per reference line")
            return expected
        if testset is None:
            raise InputError("give a test set name, or a reference (and, for a checkpoint, "
                             "a source)")
        if not str(testset).replace("_", "").isalnum():
            raise InputError(f"unknown test set {str(testset)[:50]!r}")
        return None if hyps is None else self._testset_length(testset, pair)

    def _references(self, reference: Any, limit: int) -> list[list[str]]:
        if reference is None:
            return []
        texts = reference if isinstance(reference, list) else [reference]
        if not texts or len(texts) > MAX_REFERENCES:
            raise InputError(f"give from 1 to {MAX_REFERENCES} references")
        if not all(isinstance(t, (str, bytes)) for t in texts):
            raise InputError("each reference must be a text")
        streams = [_lines(_named("reference" if len(texts) == 1 else f"reference {i + 1}",
                                 decode_document, t, limit)) for i, t in enumerate(texts)]
        lengths = sorted({len(s) for s in streams})
        if len(lengths) > 1:
            raise InputError(f"the references differ in length: {lengths} lines")
        return streams

    @staticmethod
    def _system_name(system: Any) -> str:
        if not isinstance(system, str) or not _NAME.match(system.strip()):
            raise InputError("name the system (`system`: 1 to 100 characters, no control "
                             "characters)")
        return system.strip()

    def _testset_length(self, testset: str, pair: str | None) -> int:
        """Lines of a named test set's target side for `pair` (an uploaded system's)."""
        from translator.data.corpus import CorpusError, find_split_file, read_lines

        if not isinstance(pair, str) or not valid_pair(pair):
            raise InputError("give the language pair of the hypotheses (`pair`, e.g. de-en)")
        try:
            return len(read_lines(find_split_file(self.settings.testsets_dir, testset,
                                                  pair.split("-")[1])))
        except CorpusError:
            raise InputError(f"unknown test set {testset[:50]!r} for {pair} (none in "
                             f"MULTI30K_DIR)") from None

    @staticmethod
    def _blobs(src, refs, hyps) -> dict[str, bytes]:
        blobs = {}
        if src is not None:
            blobs["input"] = "\n".join(src).encode()
        if refs:
            blobs["reference"] = "\n".join(refs[0]).encode()
            if len(refs) > 1:
                blobs["references"] = json.dumps(["\n".join(s) for s in refs[1:]]).encode()
        if hyps is not None:
            blobs["hypotheses"] = "\n".join(hyps).encode()
        return blobs

    def submit_history(self, run: str, testset: str, beam_size: int | None = None,
                       by: Submitter | None = None, pair: str | None = None) -> list[Job]:
        """Queue an evaluation of every periodic checkpoint of a listed run (`run/step*.pt`,
        step order) on a named test set: the run's history, test BLEU over updates (of one
        direction, `pair`, for a multilingual run)."""
        known = known_checkpoints(self.settings)
        steps = history_checkpoints(known, run)
        if not steps:
            raise InputError(f"the run {str(run)[:100]!r} has no periodic checkpoints "
                             f"(train.save_every writes them; train.keep_every keeps a longer "
                             f"history)")
        if len(steps) > MAX_HISTORY:
            raise InputError(f"the run {run[:100]!r} has {len(steps)} periodic checkpoints; "
                             f"one click evaluates at most {MAX_HISTORY} (keep fewer with "
                             f"train.keep_every, or evaluate them through the API)")
        try:
            directions = spec_directions(known[steps[0][1]])
        except CheckpointError:
            directions = []  # each evaluation reports its unreadable checkpoint
        if directions and pair not in directions:
            raise InputError(f"the run {run[:100]!r} is multilingual ({', '.join(directions)}): "
                             f"its history is of one direction; choose the pair")
        return [self.submit_evaluation(name, testset=testset, beam_size=beam_size, by=by,
                                       pair=pair if directions else None)
                for _, name in steps]

    def _served_pair(self, checkpoint: str, pair: str | None) -> str | None:
        """The pair a served model's listed name says (`de-en (best.pt)`, what the form lists
        for MODELS), which a multilingual model is evaluated in; `pair` if it names none;
        InputError when the two disagree."""
        named = next((p for p, path in self.settings.model_paths().items()
                      if checkpoint == served_name(p, path)), None)
        if named and pair and pair != named:
            raise InputError(f"{checkpoint[:100]!r} is the model of {named}, not of {pair}")
        return named or pair

    # ------------------------------------------------------------------ comparisons
    def comparison(self, baseline_id: str, system_ids: list[str], detail: bool = True) -> dict:
        """The comparison of evaluations, the first the baseline: {"status": "done", ...the
        stored document}, {"status": "failed", "error"}, or {"status": "pending"} after
        queueing its computation (once: a claim keeps concurrent requests from sending it
        twice; the request that sent it gets "queued": True). Who may see the evaluations is
        the caller's to check."""
        ids = [baseline_id, *system_ids]
        if len(ids) < 2 or len(ids) > MAX_COMPARED:
            raise InputError(f"compare from 2 to {MAX_COMPARED} evaluations")
        if len(set(ids)) < len(ids):
            raise InputError("an evaluation is compared with itself")
        for job in self.store.get_jobs(ids):
            if job is None or job.kind != Kind.EVALUATION:
                raise JobNotFound("no such evaluation (it may have expired)")
            if job.status != Status.DONE:
                raise JobStateError(f"evaluation {job.id} is {job.status}, not done", job)
        doc = self.store.comparison(ids, detail)
        if doc is not None:
            if "error" in doc:
                return {"status": "failed", "error": doc["error"]}
            return {"status": "done", **doc}
        if self.store.claim_comparison(ids, detail):
            self.dispatcher.app.send_task(COMPARE_TASK, args=[ids, detail], queue=EVAL_QUEUE,
                                          ignore_result=True)
            return {"status": "pending", "queued": True}  # (what a rate limit counts)
        return {"status": "pending"}

    def delete_evaluation(self, job_id: str) -> None:
        """Delete a finished evaluation and every comparison it is part of (its owner's to
        ask: the caller checks)."""
        job = self.store.require_job(job_id)
        if job.kind != Kind.EVALUATION:
            raise InputError("only evaluations are deleted; cancel other jobs")
        if not job.status.final:
            raise JobStateError(f"evaluation {job_id} is {job.status}: cancel it first", job)
        self.store.delete_evaluation(job)

