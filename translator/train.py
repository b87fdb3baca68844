"""Training: data preparation, the optimisation loop, validation, checkpoints and exact resume."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import sacrebleu
import torch
from tqdm import tqdm

from .batching import token_budget_batches, training_batch
from .calibrate import calibrate_checkpoint
from .checkpoint import average_checkpoints, load_checkpoint, save_checkpoint
from .config import Config
from .data import CorpusError, ParallelCorpus, read_split
from .defaults import TEST_SPLIT as TEST_SPLIT  # the test set scored after training
from .distributed import Ranks
from .errors import UserError
from .loss import fused_linear_smoothed_ce
from .model import Seq2Seq, count_parameters
from .plot import plot_metrics
from .prepare import prepare
from .translator import Translator
from .vocab import PAD_ID, Tokenizer

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # updates made in `epoch` (each rank's batches, accumulated)
    elapsed: float = 0.0  # training seconds so far (validation included)
    best_bleu: float = -1.0
    best_step: int = 0
    bad_evals: int = 0
    validated_step: int = 0  # the last step validated
    periodic: list[str] = field(default_factory=list)
    stop_reason: str = ""


def learning_rate(cfg, step: int, progress: float) -> float:
    """Linear warmup, then the schedule (config.py): constant, cosine decay to `min_lr` over
    the budget, or wsd, constant until the last `decay_fraction` of the budget and a linear
    decay to `min_lr` there. `progress` (0..1) is the share of the budget used (0: none)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, max(0.0, progress))
    if cfg.schedule == "wsd":
        left = (1.0 - progress) / cfg.decay_fraction if cfg.decay_fraction else 1.0
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * min(1.0, left)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def budget_progress(cfg, state: TrainState, n_batches: int) -> float:
    """How much of the step, epoch or time budget is used (0 when there is none)."""
    parts = []
    if cfg.max_steps:
        parts.append(state.step / cfg.max_steps)
    if cfg.max_epochs:
        parts.append((state.epoch + state.batch_in_epoch / max(1, n_batches)) / cfg.max_epochs)
    if cfg.max_minutes:
        parts.append(state.elapsed / (60 * cfg.max_minutes))
    return max(parts, default=0.0)


STOP_ELSEWHERE = "stopped with rank 0"
"""The stop reason of a rank other than 0 when rank 0 decided to stop (budget, patience)."""


def periodic_name(step: int) -> str:
    return f"step{step:07d}.pt"


class _Interrupted(Exception):
    """The flagged interrupt, raised by every rank after the same update."""


class Trainer:
    """One training run; under torchrun, one rank of a data parallel run (translator/
    distributed.py): every rank trains on its share of each epoch's batches, rank 0 alone
    validates and writes the run directory."""

    def __init__(self, cfg: Config, data_dir: str | Path, src_lang: str, tgt_lang: str,
                 out_dir: str | Path, resume: bool = False, progress: bool = True,
                 on_step: Callable[[int, float], None] | None = None,
                 resume_overrides: dict | None = None, cache_dir: str | Path | None = None,
                 prepare_processes: int = 0):
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
        self.state = TrainState()
        self._interrupt_requested = False
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
            self._fresh_start()
        self.net = self._parallel(self.model)

    # ------------------------------------------------------------------------- set-up
    def _check_shared_out(self, resume_from: Path) -> None:
        """Every rank must see rank 0's last.pt: a rank that does not would start afresh
        beside ranks that resume (machines that do not share --out)."""
        seen = self.ranks.gather(resume_from.exists())
        if any(seen) and not all(seen):
            missing = [rank for rank, found in enumerate(seen) if not found]
            raise UserError(f"--resume: {resume_from} exists for some ranks but not for ranks "
                            f"{missing}; --out must be a directory every machine sees (a "
                            f"shared file system), or copy last.pt to each machine's --out")

    def _fresh_start(self) -> None:
        self.val = read_split(self.data_dir, "val", self.src_lang, self.tgt_lang)
        torch.manual_seed(self.cfg.train.seed)
        random.seed(self.cfg.train.seed)
        self._prepare_train()
        self.model = Seq2Seq(self.cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)
        if self.ranks.rank:  # the same initial weights everywhere, each rank its own dropout
            torch.manual_seed(self.cfg.train.seed + self.ranks.rank)
            random.seed(self.cfg.train.seed + self.ranks.rank)
        self.optimizer = self._make_optimizer()
        if self.ranks.main:
            self.metrics_path.write_text("")  # a fresh run starts a fresh log
        self._log({"type": "start", "params": count_parameters(self.model),
                   "src_vocab": len(self.src_tok), "tgt_vocab": len(self.tgt_tok),
                   "ranks": self.ranks.world, "config": self.cfg.to_dict()})

    def _restore(self, path: Path) -> None:
        data = load_checkpoint(path)
        self.cfg = resume_config(Config.from_dict(data["config"]), self.cfg,
                                 self.resume_overrides)
        self.val = read_split(self.data_dir, "val", self.src_lang, self.tgt_lang)
        self._prepare_train((Tokenizer(data["spm"]["src"]), Tokenizer(data["spm"]["tgt"])))
        self.model = Seq2Seq(self.cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)
        self.model.load_state_dict(data["model"])
        self.optimizer = self._make_optimizer()
        ts = data["train_state"]
        self.optimizer.load_state_dict(ts["optimizer"])
        self._scaler_state = ts.get("scaler")  # AMP's loss scale (CUDA runs)
        # an earlier release did not record the validated step: taken as done (at worst the
        # interrupted step's validation stays skipped, as that release left it)
        self.state = TrainState(**{"validated_step": ts["state"]["step"]} | ts["state"])
        self.state.stop_reason = ""
        self._restore_rng(ts)
        self._restore_position(ts)
        self._truncate_log(self.state.step)
        if self.ranks.main:
            log.info("resumed from %s at step %d (epoch %d)", path, self.state.step,
                     self.state.epoch)

    def _restore_rng(self, ts: dict) -> None:
        """Each rank continues its own random streams (a checkpoint of one rank, or of an
        earlier release, has rank 0's only: the others start new ones)."""
        ranks = ts.get("rng_ranks")
        if ranks and len(ranks) == self.ranks.world:
            mine = ranks[self.ranks.rank]
        elif self.ranks.main:
            mine = {"torch": ts["rng_torch"], "python": ts["rng_python"],
                    "cuda": ts.get("rng_cuda")}
        else:
            seed = self.cfg.train.seed + self.ranks.rank + 1000 * self.state.step
            torch.manual_seed(seed)
            random.seed(seed)
            return
        torch.set_rng_state(mine["torch"])
        random.setstate(mine["python"])
        if self.device.type == "cuda" and mine.get("cuda") is not None:
            torch.cuda.set_rng_state(mine["cuda"])

    def _restore_position(self, ts: dict) -> None:
        """Resume is exact with the same number of ranks and accumulation steps; with others,
        the run goes on from the same share of the epoch."""
        before = ts.get("world_size", 1) * ts.get("accum_steps", 1)
        now = self.ranks.world * self.cfg.train.accum_steps
        if "world_size" not in ts and self.state.batch_in_epoch and self.ranks.main:
            log.warning("this last.pt was written by an earlier release, which shuffled "
                        "batches in another order: the rest of epoch %d is drawn in the new "
                        "order, so some of its batches are seen twice and others not until "
                        "the next epoch", self.state.epoch)
        if before != now:
            self.state.batch_in_epoch = self.state.batch_in_epoch * before // now
            log.warning("resuming a run of %d batches per update with %d: training continues "
                        "from the same point of the epoch, but not exactly as before", before,
                        now)

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from (they will be redone)."""
        if not self.ranks.main or not self.metrics_path.exists():
            return
        lines = [ln for ln in self.metrics_path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
        self.metrics_path.write_text("".join(ln + "\n" for ln in kept))

    def _prepare_train(self, tokenizers: tuple[Tokenizer, Tokenizer] | None = None) -> None:
        """The training pairs from the cache (translator/prepare.py), prepared there first if
        need be: by the first rank of each machine, while the others wait for it."""
        start = time.perf_counter()
        prepared = prepare(self.cfg, self.data_dir, self.src_lang, self.tgt_lang,
                           self.cache_dir, self.prepare_processes, tokenizers=tokenizers,
                           build=self.ranks.local_rank == 0, progress=self.progress)
        self.src_tok, self.tgt_tok = prepared.src_tok, prepared.tgt_tok
        if self.ranks.distributed:
            digests = self.ranks.gather(hashlib.sha256(self.src_tok.model_bytes
                                                       + self.tgt_tok.model_bytes).hexdigest())
            if len(set(digests)) > 1:
                raise CorpusError("the ranks' SentencePiece models differ (machines that trained "
                                  "their own): share the cache directory between the machines, "
                                  "or copy one machine's entry to the others")
        self.casing, self.filter_report = prepared.casing, prepared.report
        self.train_data = prepared.corpus
        self.batch_lengths = prepared.corpus.batch_lengths()
        if not len(self.train_data):
            raise CorpusError(f"no training pairs left: {self.filter_report.summary()}")
        if self.ranks.main:
            log.info("training data: %s (%s %s in %.1f s)", self.filter_report.summary(),
                     "memory-mapped from" if prepared.from_cache else "prepared into",
                     prepared.directory, time.perf_counter() - start)

    def _parallel(self, model: Seq2Seq) -> torch.nn.Module:
        """The module the training steps run: under torchrun, DDP around the model."""
        if not self.ranks.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        t = self.cfg.train
        return torch.optim.Adam(self.model.parameters(), lr=t.lr,
                                betas=(t.adam_beta1, t.adam_beta2), weight_decay=t.weight_decay)

    def epoch_batches(self, epoch: int) -> list:
        """All of an epoch's batches (index arrays), the same on every rank."""
        return token_budget_batches(self.batch_lengths, self.cfg.train.batch_tokens, shuffle=True,
                                    seed=self.cfg.train.seed * 1000 + epoch)

    def updates_per_epoch(self, n_batches: int) -> int:
        """Updates in an epoch of `n_batches`: each takes one batch per rank and accumulation
        step (the few left over are dropped, as DistributedSampler's drop_last does)."""
        return n_batches // (self.ranks.world * self.cfg.train.accum_steps)

    def update_batches(self, batches: list, update: int) -> list:
        """This rank's batches for update `update` of an epoch: disjoint from other ranks'."""
        per = self.ranks.world * self.cfg.train.accum_steps
        first = update * per + self.ranks.rank
        return [self.train_data.batch(batches[first + k * self.ranks.world])
                for k in range(self.cfg.train.accum_steps)]

    # ------------------------------------------------------------------------- logging
    def _log(self, record: dict) -> None:
        if not self.ranks.main:
            return
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------------- the loop
    def _loss(self, batch: dict, net: torch.nn.Module | None = None) -> tuple[torch.Tensor, int]:
        """Label-smoothed cross-entropy summed over real target tokens, and their count."""
        vectors = (net or self.model)(batch["src"], batch["src_lens"], batch["tgt_in"])  # (B,T,A)
        real = batch["tgt_out"] != PAD_ID  # (B, T)
        weight, bias = self.model.output_layer()
        loss = fused_linear_smoothed_ce(vectors[real], weight, bias, batch["tgt_out"][real],
                                        eps=self.cfg.train.label_smoothing)
        return loss, int(real.sum())

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
        if scaler is not None:
            scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.clip_norm)
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        return float(summed), ntok, total

    def run(self) -> dict:
        t, st = self.cfg.train, self.state
        scaler = (torch.amp.GradScaler("cuda") if self.device.type == "cuda" and t.amp else None)
        if scaler is not None and self._scaler_state:
            scaler.load_state_dict(self._scaler_state)
        self.scaler = scaler
        bar = tqdm(total=t.max_steps or None, initial=st.step, disable=not self.progress,
                   unit="step", dynamic_ncols=True, desc="train")
        window_tokens, window_loss, window_steps, window_start = 0, 0.0, 0, time.perf_counter()
        last_tick = time.perf_counter()
        self._catch_up()
        previous_handlers = self._catch_signals()
        try:
            while not st.stop_reason:
                batches = self.epoch_batches(st.epoch)
                updates = self.updates_per_epoch(len(batches))
                if not updates:
                    raise CorpusError(
                        f"an epoch has {len(batches)} batches, fewer than ranks x accum-steps "
                        f"({self.ranks.world} x {t.accum_steps}): lower train.batch_tokens")
                while st.batch_in_epoch < updates and not st.stop_reason:
                    lr = learning_rate(t, st.step, budget_progress(t, st, updates))
                    loss_sum, ntok, total = self._train_step(
                        self.update_batches(batches, st.batch_in_epoch), lr, scaler)
                    st.step += 1
                    st.batch_in_epoch += 1
                    now = time.perf_counter()
                    st.elapsed += now - last_tick
                    last_tick = now
                    summed, interrupts = self.ranks.sum(
                        [loss_sum, float(self._interrupt_requested)], self.device)
                    loss = summed / total  # per token, over all ranks
                    window_tokens += total
                    window_loss += loss
                    window_steps += 1
                    bar.update(1)
                    if st.step % t.log_every == 0 or st.step == 1:
                        speed = window_tokens / max(1e-9, now - window_start)
                        self._log({"type": "train", "step": st.step, "epoch": st.epoch,
                                   "loss": window_loss / window_steps, "lr": lr,
                                   "tokens_per_s": speed, "elapsed": st.elapsed})
                        postfix = dict(loss=f"{window_loss / window_steps:.3f}",
                                       tok_s=f"{speed:,.0f}", lr=f"{lr:.2e}", ep=st.epoch)
                        if t.max_minutes:
                            left = max(0, 60 * t.max_minutes - st.elapsed)
                            postfix["left"] = f"{int(left // 60)}:{int(left % 60):02d}"
                        bar.set_postfix(postfix)
                        window_tokens, window_loss, window_steps = 0, 0.0, 0
                        window_start = time.perf_counter()
                    if self.on_step is not None:
                        self.on_step(st.step, loss)
                    if interrupts:
                        raise _Interrupted
                    self._due_work()
                    # validation and saving count against the time budget too
                    now = time.perf_counter()
                    st.elapsed += now - last_tick
                    last_tick = now
                    self._agree_on_stop()
                if st.batch_in_epoch >= updates:
                    st.epoch += 1
                    st.batch_in_epoch = 0
                    if t.max_epochs and st.epoch >= t.max_epochs:
                        st.stop_reason = f"reached {t.max_epochs} epochs"
        except _Interrupted:
            st.stop_reason = "interrupted"
            bar.close()
            self._save_last()
            if self.ranks.main:
                log.warning("interrupted at step %d: saved %s; continue with --resume",
                            st.step, self.out / "last.pt")
            return {"stop_reason": "interrupted", "step": st.step}
        finally:
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        bar.close()
        if self.ranks.main and st.validated_step != st.step:
            self._validate()  # the final state is always validated
        self._save_last()
        if not self.ranks.main:
            return {"stop_reason": st.stop_reason, "step": st.step, "rank": self.ranks.rank}
        return self._finish()

    def _catch_up(self) -> None:
        """A resumed run first does what its interrupted step had due: an interrupt saves
        last.pt before that step's validation and periodic checkpoint (so that Ctrl-C is
        quick), and a budget met at that step ends the run without another update."""
        if self.state.step:
            self._due_work()
            self._agree_on_stop()

    def _due_work(self) -> None:
        """After an update (rank 0): the validation and periodic checkpoint due at this step
        and not yet done, then the budget."""
        t, st = self.cfg.train, self.state
        if not self.ranks.main:
            return
        if t.eval_every and st.step % t.eval_every == 0 and st.validated_step != st.step:
            self._validate()
        if (t.save_every and st.step % t.save_every == 0
                and periodic_name(st.step) not in st.periodic):
            self._save_periodic()
        self._check_budget()

    def _agree_on_stop(self) -> None:
        """All ranks adopt rank 0's stop decision and clock (the learning rate follows the
        time budget, so every rank must see the same elapsed time)."""
        if not self.ranks.distributed:
            return
        st = self.state
        main = self.ranks.main
        stop, elapsed = self.ranks.sum([float(main and bool(st.stop_reason)),
                                        st.elapsed if main else 0.0], self.device)
        st.elapsed = elapsed
        if stop and not st.stop_reason:
            st.stop_reason = STOP_ELSEWHERE

    def _catch_signals(self) -> dict:
        """Ctrl-C (or SIGTERM, which torchrun sends its ranks when it is stopped) sets a flag
        checked between steps, so `last.pt` is never saved mid-update; under torchrun, every
        rank stops at the same step once any rank has it.

        A second Ctrl-C of a single process aborts at once without saving (the last
        `last.pt` stays). Under torchrun a second signal is ignored: a scheduler's SIGTERM
        often reaches a rank twice (directly and through torchrun), and a rank leaving on its
        own would leave the others in a collective. Returns the previous handlers ({} off the
        main thread).
        """
        self._interrupt_requested = False

        def handler(signum, frame):
            if self._interrupt_requested:
                if self.ranks.distributed:
                    return
                raise KeyboardInterrupt
            self._interrupt_requested = True
            if self.ranks.main:
                tqdm.write("interrupt: finishing this step, then saving last.pt"
                           + ("" if self.ranks.distributed else
                              " (Ctrl-C again to abort at once, without saving)"),
                           file=sys.stderr)

        if threading.current_thread() is not threading.main_thread():
            return {}
        return {signum: signal.signal(signum, handler)
                for signum in (signal.SIGINT, signal.SIGTERM)}

    def _check_budget(self) -> None:
        t, st = self.cfg.train, self.state
        if t.max_steps and st.step >= t.max_steps:
            st.stop_reason = f"reached {t.max_steps} steps"
        elif t.max_minutes and st.elapsed >= 60 * t.max_minutes:
            st.stop_reason = f"reached {t.max_minutes:g} minutes"
        elif t.patience and st.bad_evals >= t.patience:
            st.stop_reason = f"early stopping: no BLEU gain in {t.patience} validations"

    # ------------------------------------------------------------------------- validation
    def translator(self) -> Translator:
        return Translator(self.model, self.src_tok, self.tgt_tok, self.cfg, self._meta(),
                          device=str(self.device), casing=self.casing)

    def evaluate(self, corpus: ParallelCorpus, beam_size: int = 1, limit: int = 0) -> dict:
        """Loss per token (teacher forcing) and sacreBLEU of decoded output on `corpus`."""
        src, tgt = corpus.src[: limit or None], corpus.tgt[: limit or None]
        self.model.eval()
        src_ids, tgt_ids = self.src_tok.encode(src), self.tgt_tok.encode(tgt)
        total, ntok = 0.0, 0
        lengths = [max(len(a), len(b)) + 1 for a, b in zip(src_ids, tgt_ids)]
        with torch.no_grad():
            for idx in token_budget_batches(lengths, self.cfg.train.batch_tokens):
                batch = training_batch([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])
                batch = {k: v.to(self.device) for k, v in batch.items()}
                loss, n = self._loss(batch)
                total, ntok = total + float(loss), ntok + n
        hyps = self.translator().translate(src, beam_size=beam_size)
        bleu = sacrebleu.corpus_bleu(hyps, [tgt])
        return {"loss": total / max(1, ntok), "bleu": bleu.score, "hyps": hyps}

    def _validate(self) -> None:
        st = self.state
        start = time.perf_counter()
        result = self.evaluate(self.val, limit=self.cfg.train.eval_max_sentences)
        st.validated_step = st.step
        improved = result["bleu"] > st.best_bleu
        if improved:
            st.best_bleu, st.best_step, st.bad_evals = result["bleu"], st.step, 0
        else:
            st.bad_evals += 1
        self._log({"type": "valid", "step": st.step, "epoch": st.epoch, "loss": result["loss"],
                   "bleu": result["bleu"], "best_bleu": st.best_bleu, "elapsed": st.elapsed,
                   "seconds": time.perf_counter() - start})
        tqdm.write(f"step {st.step}: val loss {result['loss']:.3f} BLEU {result['bleu']:.2f}"
                   f"{' (best)' if improved else ''}", file=sys.stderr)
        if improved:
            self.save("best.pt")

    # ------------------------------------------------------------------------- checkpoints
    def _meta(self) -> dict:
        return {"src_lang": self.src_lang, "tgt_lang": self.tgt_lang,
                "torch": str(torch.__version__), "params": count_parameters(self.model)}

    def _rng(self) -> dict:
        return {"torch": torch.get_rng_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None}

    def _save_last(self) -> None:
        """last.pt, with every rank's random state (so a resumed run continues each rank's
        dropout exactly); every rank calls this, rank 0 writes."""
        states = self.ranks.gather(self._rng())
        if self.ranks.main:
            self.save("last.pt", rank_rngs=states if self.ranks.distributed else None)

    def save(self, name: str, rank_rngs: list[dict] | None = None) -> Path:
        st = self.state
        rng = self._rng()
        train_state = {
            "state": {k: v for k, v in vars(st).items()},
            "optimizer": self.optimizer.state_dict(),
            "rng_torch": rng["torch"],
            "rng_python": rng["python"],
            "rng_cuda": rng["cuda"],
            "world_size": self.ranks.world,
            "accum_steps": self.cfg.train.accum_steps,
        }
        if self.scaler is not None:
            train_state["scaler"] = self.scaler.state_dict()
        if rank_rngs is not None:
            train_state["rng_ranks"] = rank_rngs
        return save_checkpoint(self.out / name, {
            "config": self.cfg.for_checkpoint(),
            "spm": {"src": self.src_tok.model_bytes, "tgt": self.tgt_tok.model_bytes},
            "casing": {"src": self.casing.to_dict()},
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "train_state": train_state,
            "metrics": {"step": st.step, "best_bleu": st.best_bleu, "best_step": st.best_step,
                        "filter": self.filter_report.dropped, "kept": self.filter_report.kept},
            "meta": self._meta(),
        })

    def _save_periodic(self) -> None:
        st = self.state
        name = periodic_name(st.step)
        self.save(name)
        st.periodic.append(name)
        while len(st.periodic) > self.cfg.train.keep_periodic:
            (self.out / st.periodic.pop(0)).unlink(missing_ok=True)

    # ------------------------------------------------------------------------- the end
    def _average(self) -> dict | None:
        """Average the last `average_last` periodic checkpoints; keep it if validation agrees.

        The average is written to `averaged.pt`; when its validation BLEU beats `best.pt`, it
        becomes `best.pt` (the previous best is kept as `best_single.pt`).
        """
        names = self.state.periodic[-self.cfg.train.average_last:]
        if self.cfg.train.average_last < 2 or len(names) < 2:
            return None
        payload = average_checkpoints([self.out / n for n in names])
        save_checkpoint(self.out / "averaged.pt", payload)
        trained = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(payload["model"])
        result = self.evaluate(self.val)
        self.model.load_state_dict(trained)
        record = {"type": "average", "step": self.state.step, "checkpoints": names,
                  "bleu": result["bleu"], "loss": result["loss"],
                  "best_single_bleu": self.state.best_bleu}
        self._log(record)
        if result["bleu"] > self.state.best_bleu:
            (self.out / "best.pt").replace(self.out / "best_single.pt")
            payload["metrics"] = {**payload["metrics"], "val_bleu": result["bleu"]}
            save_checkpoint(self.out / "best.pt", payload)
        return record

    def _calibrate(self) -> dict | None:
        """Fit best.pt's confidence calibration on the validation set (translator/calibrate.py)."""
        best = self.out / "best.pt"
        if not best.exists() or len(self.val) < 2:
            return None
        result = calibrate_checkpoint(best, self.data_dir, table=self.casing)
        self._log({"type": "calibration", "step": self.state.step, **result["confidence"]})
        return result

    def _finish(self) -> dict:
        st = self.state
        averaged = self._average()
        calibration = self._calibrate()
        plot_metrics(self.metrics_path, self.out / "metrics.png")
        summary = {"stop_reason": st.stop_reason, "step": st.step, "epoch": st.epoch,
                   "elapsed_minutes": st.elapsed / 60, "best_val_bleu": st.best_bleu,
                   "best_step": st.best_step}
        if calibration:
            summary["confidence"] = calibration["confidence"]
        if averaged:
            summary["averaged_val_bleu"] = averaged["bleu"]
            summary["averaged_from"] = averaged["checkpoints"]
        self._log({"type": "end", "step": st.step, **summary})
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


RESUME_OPTIONS = ("max_steps", "max_epochs", "max_minutes", "threads", "device", "patience",
                  "accum_steps", "dist_timeout_minutes")


def resume_config(saved: Config, requested: Config, overrides: dict | None = None) -> Config:
    """On resume, keep the saved run's config but take the budget options asked for now.

    `overrides` holds the options given explicitly (the CLI passes only those, so a resumed
    60-minute run stays a 60-minute run); without it, the budget of `requested` applies.
    """
    if overrides is None:
        overrides = {k: getattr(requested.train, k) for k in RESUME_OPTIONS}
    return saved.override("train", **{k: v for k, v in overrides.items() if k in RESUME_OPTIONS})
