"""Training: the `Trainer` of one run, which wires the parts together and runs the loop: the
set-up (data, model, a resume), each epoch's updates, and validation and checkpoints as they
fall due. The parts, in this package: state.py (the training state and its checkpoint form),
schedule.py (learning rate, budget, stop reasons), epochs.py (each update's batches),
optimisation.py (optimizer, loss, the step), interrupt.py (Ctrl-C, SIGTERM), progress.py (the
metrics log, the progress bar), validation.py, and finish.py (the steps after the loop)."""

from __future__ import annotations

import gc
import hashlib
import logging
import random
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from translator.checkpoint import load_checkpoint, periodic_name, periodic_step, save_checkpoint
from translator.config import Config
from translator.data.corpus import CorpusError, ParallelCorpus
from translator.data.mixing import prepare_mixed
from translator.data.multilingual import (
    casing_entry,
    prepare_multilingual,
    run_languages,
    run_validation_sets,
)
from translator.data.sampling import SampledSegmentation
from translator.data.vocab import PAD_ID, Tokenizer
from translator.errors import UserError
from translator.evaluation.plot import plot_metrics
from translator.inference.translator import Translator
from translator.model.seq2seq import Seq2Seq, count_parameters
from translator.training import optimisation, schedule, warm_start
from translator.training.distributed import Ranks
from translator.training.epochs import EpochPlan
from translator.training.finish import average_periodic, calibrate_best, run_summary
from translator.training.interrupt import Interrupt, Interrupted
from translator.training.progress import MetricsLog, ProgressReport
from translator.training.state import (
    TrainState,
    from_checkpoint,
    resume_config,
    rng_state,
    to_checkpoint,
)
from translator.training.validation import evaluate_directions, record_validation

log = logging.getLogger(__name__)

def ranks_without(ranks: Ranks, path: Path) -> tuple[list[int], int]:
    """The ranks that do not see the file `path` (each rank looks on its own machine), and
    how many ranks looked."""
    seen = ranks.gather(path.is_file())
    return [rank for rank, found in enumerate(seen) if not found], len(seen)


class Trainer:
    """One training run; under torchrun, one rank of a data parallel run
    (translator/training/distributed.py): every rank trains on its share of each epoch's
    batches, rank 0 alone validates and writes the run directory. A run of one pair
    (`src_lang`, `tgt_lang`), or, with `data.langs` in the config, a multilingual run of its
    `data.directions` (the languages None: translator/data/multilingual.py)."""

    def __init__(self, cfg: Config, data_dir: str | Path, src_lang: str | None,
                 tgt_lang: str | None,
                 out_dir: str | Path, resume: bool = False, progress: bool = True,
                 on_step: Callable[[int, float], None] | None = None,
                 resume_overrides: dict | None = None, cache_dir: str | Path | None = None,
                 prepare_processes: int = 0, init_from: str | Path | None = None):
        self.cfg, self.data_dir = cfg, Path(data_dir)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.out = Path(out_dir)
        self.on_step = on_step
        self.resume_overrides = resume_overrides
        self.cache_dir, self.prepare_processes = cache_dir, prepare_processes
        if cfg.train.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was requested but CUDA is not available")
        self.ranks = Ranks.from_env(cfg.train.device, cfg.train.dist_timeout_minutes)
        self.progress = progress and self.ranks.main
        self.device = torch.device(f"cuda:{self.ranks.local_rank}" if cfg.train.device == "cuda"
                                   else cfg.train.device)
        torch.set_num_threads(cfg.train.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.out / "metrics.jsonl"
        self.metrics = MetricsLog(self.metrics_path, enabled=self.ranks.main)
        self.state = TrainState()
        self.scaler: torch.amp.GradScaler | None = None  # AMP on CUDA (made by `run`)
        self._scaler_state: dict | None = None  # a resumed run's loss scale
        resume_from = self.out / "last.pt"
        if resume and self.ranks.distributed:
            self._check_shared_out(resume_from)
        if resume and resume_from.exists():
            self._restore(resume_from)
        else:
            if resume:
                log.warning("--resume given but %s does not exist: starting fresh", resume_from)
            self._fresh_start(init_from)
        self.net = optimisation.parallel(self.model, self.ranks, self.device)
        self.epochs = EpochPlan(self.train_data, self.batch_lengths, self.cfg.train, self.ranks,
                                self._sampled_segmentation())

    # ------------------------------------------------------------------------- set-up
    def _check_shared_out(self, resume_from: Path) -> None:
        """Every rank must see rank 0's last.pt: a rank that does not would start afresh
        beside ranks that resume (machines that do not share --out)."""
        missing, n_looked = ranks_without(self.ranks, resume_from)
        if 0 < len(missing) < n_looked:
            raise UserError(f"--resume: {resume_from} exists for some ranks but not for ranks "
                            f"{missing}; --out must be a directory every machine sees (a "
                            f"shared file system), or copy last.pt to each machine's --out")

    def _check_init_everywhere(self, init_from: Path) -> None:
        """Every rank must see the --init checkpoint: a rank that does not would stop alone
        while the others wait for it in their first collective."""
        if missing := ranks_without(self.ranks, init_from)[0]:
            raise UserError(f"--init: {init_from} is not a file for ranks {missing}; give "
                            f"a path every machine sees (a shared file system), or copy it "
                            f"to the same path on each machine")

    def _fresh_start(self, init_from: str | Path | None = None) -> None:
        """A new run: the seeded model and optimizer, and a new log; with `init_from`, the
        model starts from that checkpoint's weights and vocabulary (warm_start.py), the
        optimizer, schedule and step count from nothing."""
        torch.manual_seed(self.cfg.train.seed)
        random.seed(self.cfg.train.seed)
        start = None
        if init_from is not None:
            init_from = Path(init_from).resolve()
            if self.ranks.distributed:
                self._check_init_everywhere(init_from)
            start, self.cfg = warm_start.read_start(
                init_from, self.cfg, run_languages(self.cfg, self.src_lang, self.tgt_lang))
        self._build(warm_start.tokenizers(start) if start else None)
        if start:
            warm_start.load_weights(self.model, start, init_from)
            self.state.init_from = str(init_from)
        if self.ranks.rank:  # the same initial weights everywhere, each rank its own dropout
            torch.manual_seed(self.cfg.train.seed + self.ranks.rank)
            random.seed(self.cfg.train.seed + self.ranks.rank)
        self.optimizer = optimisation.make_optimizer(self.model, self.cfg.train)
        self.metrics.clear()
        self.metrics.write({"type": "start", "params": count_parameters(self.model),
                            "src_vocab": len(self.src_tok), "tgt_vocab": len(self.tgt_tok),
                            "ranks": self.ranks.world, "config": self.cfg.to_dict(),
                            **({"init_from": str(init_from)} if init_from else {})})

    def _restore(self, path: Path) -> None:
        """Go on from the checkpoint at `path` (last.pt): its config (the budget asked for now),
        tokenizers, weights and (state.py) training state."""
        data = load_checkpoint(path)
        self.cfg = resume_config(Config.from_dict(data["config"]), self.cfg,
                                 self.resume_overrides)
        self._build(warm_start.tokenizers(data))
        self.model.load_state_dict(data["model"])
        self.optimizer = optimisation.make_optimizer(self.model, self.cfg.train)
        self.state, self._scaler_state = from_checkpoint(data["train_state"], self.optimizer,
                                                         self.ranks, self.cfg.train, self.device)
        self.metrics.truncate(self.state.step)
        if self.ranks.main:
            log.info("resumed from %s at step %d (epoch %d)", path, self.state.step,
                     self.state.epoch)

    def _build(self, tokenizers: tuple[Tokenizer, Tokenizer] | None = None) -> None:
        """The validation pairs, the training data and a model (initialised from torch's seed)."""
        self.val = run_validation_sets(self.cfg, self.data_dir, self.src_lang, self.tgt_lang)
        self._prepare_train(tokenizers)
        self.model = Seq2Seq(self.cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)

    def _prepare_train(self, tokenizers: tuple[Tokenizer, Tokenizer] | None = None) -> None:
        """The training pairs from the cache (translator/data/prepare.py), prepared there first if
        need be: by the first rank of each machine, while the others wait for it."""
        start = time.perf_counter()
        build = self.ranks.local_rank == 0
        if self.cfg.data.langs:
            prepared = prepare_multilingual(self.cfg, self.data_dir, self.cache_dir,
                                            self.prepare_processes, tokenizers, build,
                                            self.progress)
        else:
            prepared = prepare_mixed(self.cfg, self.data_dir, self.src_lang, self.tgt_lang,
                                     self.cache_dir, self.prepare_processes,
                                     tokenizers=tokenizers, build=build, progress=self.progress)
        self.src_tok, self.tgt_tok = prepared.src_tok, prepared.tgt_tok
        if self.ranks.distributed:
            digests = self.ranks.gather(hashlib.sha256(self.src_tok.model_bytes
                                                       + self.tgt_tok.model_bytes).hexdigest())
            if len(set(digests)) > 1:
                raise CorpusError("the ranks' SentencePiece models differ (machines that trained "
                                  "their own): share the cache directory between the machines, "
                                  "or copy one machine's entry to the others")
        self.casing, self.filter_report = prepared.casing, prepared.report
        self.casings = prepared.casings or {}
        self.train_data, self.corpus_record = prepared.corpus, prepared.record
        self.batch_lengths = prepared.corpus.batch_lengths()
        if not len(self.train_data):
            raise CorpusError(f"no training pairs left: {self.filter_report.summary()}")
        if self.ranks.main:
            log.info("training data: %s (%s %s in %.1f s)", self.filter_report.summary(),
                     "memory-mapped from" if prepared.from_cache else "prepared into",
                     prepared.directory, time.perf_counter() - start)

    def _sampled_segmentation(self) -> SampledSegmentation | None:
        """Subword regularisation's batches when `data.subword_alpha` asks for it."""
        data = self.cfg.data
        if not data.subword_alpha:
            return None
        return SampledSegmentation(self.train_data, self.src_tok, self.tgt_tok,
                                   data.subword_alpha, data.max_len)

    # ------------------------------------------------------------------------- the loop
    def _loss(self, batch: dict, net: torch.nn.Module | None = None) -> tuple[torch.Tensor, int]:
        """Label-smoothed cross-entropy summed over real target tokens, and their count; `net`
        (default: the model) runs the model."""
        return optimisation.batch_loss(net or self.model, self.model, batch,
                                       self.cfg.train.label_smoothing)

    def _train_step(self, batches: list[dict], lr: float, scaler) -> tuple[float, int, int]:
        """One update from this rank's `batches` (accumulated): the loss summed over their
        tokens, their token count, and the token count of the update over all ranks.

        Each batch's summed loss is divided by the update's tokens over all ranks (times the
        ranks, which DDP's gradient average divides again), so the gradient is that of the
        per-token loss of everything the ranks hold, however unevenly their tokens fall.
        """
        self.net.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batches = [{k: v.to(self.device, non_blocking=True) for k, v in b.items()}
                   for b in batches]
        ntok = sum(int((b["tgt_out"] != PAD_ID).sum()) for b in batches)
        total = int(self.ranks.sum([ntok], self.device)[0])
        share = total / self.ranks.world
        self.optimizer.zero_grad(set_to_none=True)
        summed = torch.zeros((), device=self.device)
        for k, batch in enumerate(batches):
            last = k == len(batches) - 1
            with (self.net.no_sync() if self.ranks.distributed and not last else nullcontext()):
                with torch.autocast("cuda", enabled=scaler is not None, dtype=torch.float16):
                    loss, _ = self._loss(batch, self.net)
                scaled = loss / share
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            summed += loss.detach().float()
        optimisation.optimizer_step(self.optimizer, scaler, self.model, self.cfg.train.clip_norm)
        return float(summed), ntok, total

    def run(self) -> dict:
        """Train until the budget, early stopping (under wsd, after the decay it starts) or an
        interrupt ends the run; then the final validation, last.pt and (rank 0) the steps of
        finish.py. Returns the run's summary."""
        t, st = self.cfg.train, self.state
        self.scaler = optimisation.make_scaler(self.device, t, self._scaler_state)
        report = ProgressReport(t, st.step, self.progress, self.metrics.write)
        self._last_tick = time.perf_counter()
        # an epoch's updates: what an epoch budget's progress needs (none other reads it)
        self._epoch_updates = (self.epochs.updates(len(self.epochs.batches(st.epoch)))
                               if t.max_epochs else 0)
        self._catch_up()
        with Interrupt(self.ranks.distributed, announce=self.ranks.main) as interrupt:
            try:
                while not st.stop_reason:
                    self._run_epoch(report, interrupt)
            except Interrupted:
                return self._stop_interrupted(report)
        report.close()
        if self.ranks.main and st.validated_step != st.step:
            self._validate()  # the final state is always validated
        self._save_last()
        if not self.ranks.main:
            return {"stop_reason": st.stop_reason, "step": st.step, "rank": self.ranks.rank}
        return self._finish()

    def _run_epoch(self, report: ProgressReport, interrupt: Interrupt) -> None:
        """The rest of the current epoch's updates, or those until the run stops."""
        st = self.state
        batches = self.epochs.batches(st.epoch)
        updates = self._epoch_updates = self.epochs.updates(len(batches))
        if not updates:
            raise CorpusError(
                f"an epoch has {len(batches)} batches, fewer than ranks x accum-steps "
                f"({self.ranks.world} x {self.cfg.train.accum_steps}): lower train.batch_tokens")
        while st.batch_in_epoch < updates and not st.stop_reason:
            self._update(batches, updates, report, interrupt)
        if st.batch_in_epoch >= updates:
            st.epoch += 1
            st.batch_in_epoch = 0
            st.stop_reason = schedule.epochs_stop_reason(self.cfg.train, st.epoch) or st.stop_reason

    def _update(self, batches: list, updates: int, report: ProgressReport,
                interrupt: Interrupt) -> None:
        """One update of an epoch of `updates`, then what is due after it: the report, an
        interrupt any rank has, validation and a periodic checkpoint, the budget."""
        t, st = self.cfg.train, self.state
        lr = schedule.learning_rate(t, st.step, schedule.budget_progress(t, st, updates))
        loss_sum, _, total = self._train_step(
            self.epochs.update_batches(batches, st.batch_in_epoch, st.epoch), lr, self.scaler)
        st.step += 1
        st.batch_in_epoch += 1
        now = self._tick()
        summed, interrupts = self.ranks.sum([loss_sum, float(interrupt.requested)], self.device)
        loss = summed / total  # per token, over all ranks
        report.update(st, total, loss, lr, now)
        if self.on_step is not None:
            self.on_step(st.step, loss)
        if interrupts:
            raise Interrupted
        self._due_work()
        self._tick()  # validation and saving count against the time budget too
        self._agree_on_stop()
        if t.save_every and st.step % t.save_every == 0 and not st.stop_reason:
            self._save_last()  # a run killed outright (no SIGINT) resumes from here

    def _tick(self) -> float:
        """Add the time since the last tick to the run's elapsed time; returns the time now."""
        now = time.perf_counter()
        self.state.elapsed += now - self._last_tick
        self._last_tick = now
        return now

    def _stop_interrupted(self, report: ProgressReport) -> dict:
        """After an interrupt: last.pt (every rank's part), a warning, the short summary."""
        st = self.state
        st.stop_reason = "interrupted"
        report.close()
        self._save_last()
        if self.ranks.main:
            log.warning("interrupted at step %d: saved %s; continue with --resume",
                        st.step, self.out / "last.pt")
        return {"stop_reason": "interrupted", "step": st.step}

    def _catch_up(self) -> None:
        """A resumed run first does what its interrupted step had due: an interrupt saves
        last.pt before that step's validation and periodic checkpoint (so that Ctrl-C is
        quick), and a budget met at that step ends the run without another update."""
        if self.state.step:
            self._due_work()
            self._agree_on_stop()

    def _due_work(self) -> None:
        """After an update (rank 0): the validation and periodic checkpoint due at this step
        and not yet done, the decay patience starts under wsd, then the budget."""
        t, st = self.cfg.train, self.state
        if not self.ranks.main:
            return
        if t.eval_every and st.step % t.eval_every == 0 and st.validated_step != st.step:
            self._validate()
        # (after any update: a run resumed with a smaller patience starts its decay too)
        if schedule.start_decay_early(t, st, schedule.budget_progress(t, st,
                                                                      self._epoch_updates)):
            self._announce_decay()
        if (t.save_every and st.step % t.save_every == 0
                and periodic_name(st.step) not in st.periodic):
            self._save_periodic()
        st.stop_reason = schedule.budget_stop_reason(t, st) or st.stop_reason

    def _announce_decay(self) -> None:
        """The log record and the line of a decay patience started (schedule.py)."""
        st = self.state
        self.metrics.write({"type": "decay", "step": st.step, "until": st.decay_until})
        tqdm.write(f"step {st.step}: no BLEU gain in {self.cfg.train.patience} validations: "
                   f"the learning rate decays from here to step {st.decay_until} (wsd), "
                   f"then the run stops", file=sys.stderr)

    def _agree_on_stop(self) -> None:
        """All ranks adopt rank 0's stop decision, clock and early decay (the learning rate
        follows the time budget and the decay, so every rank must see the same)."""
        if not self.ranks.distributed:
            return
        st = self.state
        main = self.ranks.main
        stop, elapsed, decay_until = self.ranks.sum(
            [float(main and bool(st.stop_reason)), st.elapsed if main else 0.0,
             float(st.decay_until) if main else 0.0], self.device)
        st.elapsed, st.decay_until = elapsed, int(decay_until)
        if stop and not st.stop_reason:
            st.stop_reason = schedule.STOP_ELSEWHERE

    # ------------------------------------------------------------------------- validation
    def translator(self) -> Translator:
        return Translator(self.model, self.src_tok, self.tgt_tok, self.cfg, self._meta(),
                          device=str(self.device), casing=self.casing, casings=self.casings)

    def evaluate(self, sets: dict[str, ParallelCorpus], beam_size: int = 1,
                 limit: int = 0) -> dict:
        """Loss per token (teacher forcing) and BLEU (sacreBLEU's, alone: no chrF or TER
        during training) of the decoded output on each direction's pairs of `sets`, and
        their means (validation.py, `evaluate_directions`)."""
        self.model.eval()
        return evaluate_directions(self.translator(), self._loss, sets,
                                   self.cfg.train.batch_tokens, self.device, beam_size, limit)

    def _validate(self) -> None:
        """Rank 0: validate the model as it is (validation.py); best.pt if it is the best."""
        start = time.perf_counter()
        result = self.evaluate(self.val, limit=self.cfg.train.eval_max_sentences)
        if record_validation(self.state, result, time.perf_counter() - start,
                             self.metrics.write):
            self.save("best.pt")

    # ------------------------------------------------------------------------- checkpoints
    def _meta(self) -> dict:
        return {**run_languages(self.cfg, self.src_lang, self.tgt_lang),
                "torch": str(torch.__version__),
                "params": count_parameters(self.model)}

    def _save_last(self) -> None:
        """last.pt, with every rank's random state (so a resumed run continues each rank's
        dropout exactly); every rank calls this, rank 0 writes."""
        states = self.ranks.gather(rng_state(self.device))
        if self.ranks.main:
            self.save("last.pt", rank_rngs=states if self.ranks.distributed else None)

    def save(self, name: str, rank_rngs: list[dict] | None = None) -> Path:
        """The run's checkpoint `name`: weights, tokenizers, config, training state (state.py),
        corpus (corpus_record.py); `rank_rngs`: every rank's random streams (torchrun's last.pt)."""
        st = self.state
        train_state = to_checkpoint(st, self.optimizer, self.scaler, self.ranks.world,
                                    self.cfg.train.accum_steps, self.device, rank_rngs)
        return save_checkpoint(self.out / name, {
            "config": self.cfg.for_checkpoint(),
            "spm": {"src": self.src_tok.model_bytes, "tgt": self.tgt_tok.model_bytes},
            "casing": casing_entry(self.casing, self.casings),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "train_state": train_state,
            "metrics": {"step": st.step, "best_bleu": st.best_bleu, "best_step": st.best_step,
                        "filter": self.filter_report.dropped, "kept": self.filter_report.kept},
            "meta": self._meta(), "corpus": self.corpus_record,
        })

    def _save_periodic(self) -> None:
        """This step's periodic checkpoint; the oldest beyond `keep_periodic` leave the list
        (what averaging reads) and are deleted, unless their step is a multiple of
        `keep_every` (kept on disk for the run's history)."""
        st, every = self.state, self.cfg.train.keep_every
        name = periodic_name(st.step)
        self.save(name)
        st.periodic.append(name)
        while len(st.periodic) > self.cfg.train.keep_periodic:
            old = st.periodic.pop(0)
            if not (every and periodic_step(old) % every == 0):
                (self.out / old).unlink(missing_ok=True)

    # ------------------------------------------------------------------------- the end
    def _finish(self) -> dict:
        """Rank 0 after the loop: the steps of finish.py, the plot, the `end` record."""
        st = self.state
        averaged = average_periodic(self.out, self.cfg.train.average_last, self.model,
                                    lambda: self.evaluate(self.val), st, self.metrics.write)
        calibration = calibrate_best(self.out, self.data_dir, len(next(iter(self.val.values()))),
                                     self.casing, st, self.metrics.write, self.casings)
        plot_metrics(self.metrics_path, self.out / "metrics.png")
        summary = run_summary(st, averaged, calibration)
        self.metrics.write({"type": "end", "step": st.step, **summary})
        return summary

    def close(self, success: bool) -> None:
        """This rank's end of the run: drop DDP and the optimizer, then leave the process
        group (`Ranks.close`: at a barrier with the other ranks when `success`, at once after
        a failure). Under torchrun, rank 0 calls it after its last write.

        DDP's reducer keeps a reference to the group: while it lives, destroying the group
        frees nothing, and the rest is torn down at interpreter exit in no set order. The
        collection frees the optimizer (reference cycles keep it alive) and anything in a
        cycle with DDP."""
        self.net = self.model
        self.optimizer = None
        gc.collect()
        self.ranks.close(success)

