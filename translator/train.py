"""Training: data preparation, the optimisation loop, validation, checkpoints and exact resume."""

from __future__ import annotations

import json
import logging
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sacrebleu
import torch
from tqdm import tqdm

from .batching import token_budget_batches, training_batch
from .calibrate import calibrate_checkpoint
from .casing import CasingTable
from .checkpoint import average_checkpoints, load_checkpoint, save_checkpoint
from .config import Config
from .data import ParallelCorpus, filter_pairs, read_split
from .defaults import TEST_SPLIT as TEST_SPLIT  # the test set scored after training
from .loss import fused_linear_smoothed_ce
from .model import Seq2Seq, count_parameters
from .plot import plot_metrics
from .translator import Translator
from .vocab import PAD_ID, Tokenizer, train_tokenizers

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of `epoch` already consumed
    elapsed: float = 0.0  # training seconds so far (validation included)
    best_bleu: float = -1.0
    best_step: int = 0
    bad_evals: int = 0
    periodic: list[str] = field(default_factory=list)
    stop_reason: str = ""


@dataclass
class Encoded:
    src: list[list[int]]
    tgt: list[list[int]]


def learning_rate(cfg, step: int, progress: float) -> float:
    """Linear warmup, then constant or cosine decay to `min_lr` over the budget (progress 0..1)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, max(0.0, progress))
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


class Trainer:
    def __init__(self, cfg: Config, data_dir: str | Path, src_lang: str, tgt_lang: str,
                 out_dir: str | Path, resume: bool = False, progress: bool = True,
                 on_step: Callable[[int, float], None] | None = None,
                 resume_overrides: dict | None = None):
        self.cfg, self.data_dir = cfg, Path(data_dir)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.out = Path(out_dir)
        self.progress, self.on_step = progress, on_step
        self.resume_overrides = resume_overrides
        self.device = torch.device(cfg.train.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was requested but CUDA is not available")
        torch.set_num_threads(cfg.train.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.out / "metrics.jsonl"
        self.state = TrainState()
        self._interrupt_requested = False
        resume_from = self.out / "last.pt"
        if resume and resume_from.exists():
            self._restore(resume_from)
        else:
            if resume:
                log.warning("--resume given but %s does not exist: starting fresh", resume_from)
            self._fresh_start()

    # ------------------------------------------------------------------------- set-up
    def _read_data(self) -> tuple[ParallelCorpus, ParallelCorpus]:
        train = read_split(self.data_dir, "train", self.src_lang, self.tgt_lang)
        val = read_split(self.data_dir, "val", self.src_lang, self.tgt_lang)
        return train, val

    def _fresh_start(self) -> None:
        train, self.val = self._read_data()
        torch.manual_seed(self.cfg.train.seed)
        random.seed(self.cfg.train.seed)
        v = self.cfg.vocab
        self.src_tok, self.tgt_tok = train_tokenizers(
            train.src, train.tgt, v.size, v.model_type, v.joint, v.character_coverage,
            v.max_sentences, self.cfg.train.seed)
        self._prepare_train(train)
        self.model = Seq2Seq(self.cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)
        self.optimizer = self._make_optimizer()
        self.metrics_path.write_text("")  # a fresh run starts a fresh log
        self._log({"type": "start", "params": count_parameters(self.model),
                   "src_vocab": len(self.src_tok), "tgt_vocab": len(self.tgt_tok),
                   "config": self.cfg.to_dict()})

    def _restore(self, path: Path) -> None:
        data = load_checkpoint(path)
        self.cfg = resume_config(Config.from_dict(data["config"]), self.cfg,
                                 self.resume_overrides)
        self.src_tok, self.tgt_tok = Tokenizer(data["spm"]["src"]), Tokenizer(data["spm"]["tgt"])
        train, self.val = self._read_data()
        self._prepare_train(train)
        self.model = Seq2Seq(self.cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)
        self.model.load_state_dict(data["model"])
        self.optimizer = self._make_optimizer()
        ts = data["train_state"]
        self.optimizer.load_state_dict(ts["optimizer"])
        self.state = TrainState(**ts["state"])
        self.state.stop_reason = ""
        torch.set_rng_state(ts["rng_torch"])
        random.setstate(ts["rng_python"])
        if self.device.type == "cuda" and ts.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ts["rng_cuda"])
        self._truncate_log(self.state.step)
        log.info("resumed from %s at step %d (epoch %d)", path, self.state.step, self.state.epoch)

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from (they will be redone)."""
        if not self.metrics_path.exists():
            return
        lines = [ln for ln in self.metrics_path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
        self.metrics_path.write_text("".join(ln + "\n" for ln in kept))

    def _prepare_train(self, train: ParallelCorpus) -> None:
        d = self.cfg.data
        self.casing = CasingTable.learn(train.src)
        src_ids, tgt_ids = self.src_tok.encode(train.src), self.tgt_tok.encode(train.tgt)
        lengths = {s: max(len(a), len(b)) for s, a, b in zip(train.src, src_ids, tgt_ids)}
        filtered, report = filter_pairs(
            train, d.max_len, d.max_ratio, d.min_len_for_ratio, length=lambda s: lengths.get(s, 0))
        self.filter_report = report
        keep = set(zip(filtered.src, filtered.tgt))
        pairs = [(a, b) for s, t, a, b in zip(train.src, train.tgt, src_ids, tgt_ids)
                 if (s, t) in keep and s and t]
        self.train_data = Encoded([a for a, _ in pairs], [b for _, b in pairs])
        self.batch_lengths = [max(len(a), len(b)) + 1 for a, b in pairs]
        log.info("training data: %s", report.summary())

    def _make_optimizer(self) -> torch.optim.Optimizer:
        t = self.cfg.train
        return torch.optim.Adam(self.model.parameters(), lr=t.lr,
                                betas=(t.adam_beta1, t.adam_beta2), weight_decay=t.weight_decay)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        return token_budget_batches(self.batch_lengths, self.cfg.train.batch_tokens, shuffle=True,
                                    seed=self.cfg.train.seed * 1000 + epoch)

    # ------------------------------------------------------------------------- logging
    def _log(self, record: dict) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------------- the loop
    def _loss(self, batch: dict) -> tuple[torch.Tensor, int]:
        """Label-smoothed cross-entropy summed over real target tokens, and their count."""
        vectors = self.model(batch["src"], batch["src_lens"], batch["tgt_in"])  # (B, T, A)
        real = batch["tgt_out"] != PAD_ID  # (B, T)
        weight, bias = self.model.output_layer()
        loss = fused_linear_smoothed_ce(vectors[real], weight, bias, batch["tgt_out"][real],
                                        eps=self.cfg.train.label_smoothing)
        return loss, int(real.sum())

    def _train_step(self, batch: dict, lr: float, scaler) -> tuple[float, int]:
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast("cuda", enabled=scaler is not None, dtype=torch.float16):
            loss, ntok = self._loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss / ntok).backward()
            scaler.unscale_(self.optimizer)
        else:
            (loss / ntok).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.clip_norm)
        if scaler is not None:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        return float(loss.detach()) / ntok, ntok

    def run(self) -> dict:
        t, st = self.cfg.train, self.state
        scaler = (torch.amp.GradScaler("cuda") if self.device.type == "cuda" and t.amp else None)
        bar = tqdm(total=t.max_steps or None, initial=st.step, disable=not self.progress,
                   unit="step", dynamic_ncols=True, desc="train")
        window_tokens, window_loss, window_steps, window_start = 0, 0.0, 0, time.perf_counter()
        last_tick = time.perf_counter()
        previous_handler = self._catch_sigint()
        try:
            while not st.stop_reason:
                batches = self.epoch_batches(st.epoch)
                while st.batch_in_epoch < len(batches) and not st.stop_reason:
                    idx = batches[st.batch_in_epoch]
                    batch = training_batch([self.train_data.src[i] for i in idx],
                                           [self.train_data.tgt[i] for i in idx])
                    lr = learning_rate(t, st.step, budget_progress(t, st, len(batches)))
                    loss, ntok = self._train_step(batch, lr, scaler)
                    st.step += 1
                    st.batch_in_epoch += 1
                    now = time.perf_counter()
                    st.elapsed += now - last_tick
                    last_tick = now
                    window_tokens += ntok
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
                    if self._interrupt_requested:
                        raise KeyboardInterrupt
                    if t.eval_every and st.step % t.eval_every == 0:
                        self._validate()
                    if t.save_every and st.step % t.save_every == 0:
                        self._save_periodic()
                    self._check_budget(len(batches))
                    # validation and saving count against the time budget too
                    now = time.perf_counter()
                    st.elapsed += now - last_tick
                    last_tick = now
                if st.batch_in_epoch >= len(batches):
                    st.epoch += 1
                    st.batch_in_epoch = 0
                    if t.max_epochs and st.epoch >= t.max_epochs:
                        st.stop_reason = f"reached {t.max_epochs} epochs"
        except KeyboardInterrupt:
            st.stop_reason = "interrupted"
            bar.close()
            self.save("last.pt")
            log.warning("interrupted at step %d: saved %s; continue with --resume",
                        st.step, self.out / "last.pt")
            return {"stop_reason": "interrupted", "step": st.step}
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        bar.close()
        if not t.eval_every or st.step % t.eval_every:
            self._validate()  # the final state is always validated
        self.save("last.pt")
        return self._finish()

    def _catch_sigint(self):
        """Ctrl-C sets a flag checked between steps, so `last.pt` is never saved mid-update.

        A second Ctrl-C interrupts at once. Returns the previous handler (None off the main thread).
        """
        self._interrupt_requested = False

        def handler(signum, frame):
            if self._interrupt_requested:
                raise KeyboardInterrupt
            self._interrupt_requested = True
            tqdm.write("interrupt: finishing this step, then saving last.pt "
                       "(Ctrl-C again to abort at once)", file=sys.stderr)

        if threading.current_thread() is not threading.main_thread():
            return None
        return signal.signal(signal.SIGINT, handler)

    def _check_budget(self, n_batches: int) -> None:
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

    def save(self, name: str) -> Path:
        st = self.state
        train_state = {
            "state": {k: v for k, v in vars(st).items()},
            "optimizer": self.optimizer.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_python": random.getstate(),
            "rng_cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
        }
        return save_checkpoint(self.out / name, {
            "config": self.cfg.to_dict(),
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
        name = f"step{st.step:07d}.pt"
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


RESUME_OPTIONS = ("max_steps", "max_epochs", "max_minutes", "threads", "device", "patience")


def resume_config(saved: Config, requested: Config, overrides: dict | None = None) -> Config:
    """On resume, keep the saved run's config but take the budget options asked for now.

    `overrides` holds the options given explicitly (the CLI passes only those, so a resumed
    60-minute run stays a 60-minute run); without it, the budget of `requested` applies.
    """
    if overrides is None:
        overrides = {k: getattr(requested.train, k) for k in RESUME_OPTIONS}
    return saved.override("train", **{k: v for k, v in overrides.items() if k in RESUME_OPTIONS})
