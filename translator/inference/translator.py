"""`Translator`: the one front door to a trained model (CLI, worker and evaluation use it)."""

from __future__ import annotations

import copy
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from translator.checkpoint import CheckpointError, load_checkpoint
from translator.checkpoint_file import spec_members
from translator.config import Config, ConfigError
from translator.data.batching import source_tensors, token_budget_batches
from translator.data.casing import CasingTable
from translator.data.vocab import Tokenizer
from translator.defaults import BATCH_TOKENS, BEAM_SIZE
from translator.errors import UserError
from translator.inference.align import output_alignment
from translator.inference.confidence import Calibration, mean_log_prob, uncalibrated
from translator.inference.ensemble import check_members, ensemble_calibration
from translator.inference.pipeline import finish, prepare
from translator.inference.precision import require_bf16
from translator.inference.search import Hypothesis, SearchConfig, search
from translator.languages import lang_token
from translator.model.ensemble import Ensemble
from translator.model.quantize import quantize_int8
from translator.model.seq2seq import Seq2Seq

log = logging.getLogger(__name__)


class Scored(NamedTuple):
    """A translation and the model's confidence in it (0..1: translator/inference/confidence.py)."""

    text: str
    confidence: float


class Aligned(NamedTuple):
    """A translation, its confidence, and for each of its words the source word it is aligned
    to (indexes into `source.split()`, translator/inference/align.py)."""

    text: str
    confidence: float
    alignment: list[int]


class Translator:
    """A loaded model with its tokenizers; translates lists of segments in batches.

    Every input goes through translator/inference/pipeline.py: ALL-CAPS and all-lowercase input is
    truecased with the checkpoint's `casing` table (an ALL-CAPS input gets an ALL-CAPS output)
    and numbers, URLs, e-mail addresses, out-of-vocabulary characters and unknown names are
    carried through by attention alignment (`recase=False` and `protect=False` turn these
    off).

    A multilingual model (translator/data/multilingual.py) translates the directions its
    `meta["directions"]` lists: `for_pair(src, tgt)` gives the view of one of them (the same
    model in memory), which ends every source with the target language's token and uses the
    source language's casing table and the direction's calibration (`casings`,
    `calibrations`).
    """

    def __init__(self, model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, config: Config,
                 meta: dict | None = None, device: str = "cpu", max_src_tokens: int = 250,
                 bf16: bool = False, casing: CasingTable | None = None,
                 calibration: Calibration | None = None, protect: bool = True,
                 recase: bool = True, casings: dict[str, CasingTable] | None = None,
                 calibrations: dict[str, Calibration] | None = None):
        if bf16:  # from_checkpoint asked before loading; a model built here is asked now
            require_bf16(device)
        self.model = (model.prepare_inference() if isinstance(model, (Seq2Seq, Ensemble))
                      else model.eval())
        self.src_tok, self.tgt_tok = src_tok, tgt_tok
        self.config, self.meta = config, meta or {}
        self.device = torch.device(device)
        self.max_src_tokens = max_src_tokens
        self.bf16 = bf16
        self.casing, self.calibration = casing, calibration
        self.protect, self.recase = protect, recase
        self.members: list[str] = []  # the checkpoints loaded (from_checkpoint), in spec order
        self.casings, self.calibrations = casings or {}, calibrations or {}
        self.lang_id: int | None = None  # a multilingual view's target-language token

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu",
                        threads: int | None = None, int8: bool = False,
                        bf16: bool = False, calibrate: bool = True) -> Translator:
        """Load a checkpoint written by `translator train`; raises CheckpointError if unusable.

        `path` is a model spec: one checkpoint, or several of one vocabulary and language pair
        joined by `+` (`a.pt+b.pt`), an ensemble whose members' log-probabilities are averaged
        at every step of the search (translator/model/ensemble.py). An ensemble's confidence
        uses its own calibration, stored beside its first member, fitted here when there is
        none and the validation set is known, unless `calibrate` is False
        (translator/inference/ensemble.py); its casing table is the first member's.

        `threads` sets torch's CPU threads for this process; `int8` quantizes the model's LSTM
        and linear layers dynamically to int8 (CPU only); `bf16` runs the matrix products in
        bfloat16 under autocast (fast on CPUs with AVX-512 BF16 or AMX, and on GPUs of compute
        capability 8.0+). Where bf16 cannot run, it raises PrecisionError (a CheckpointError)
        before reading the checkpoint: translator/inference/precision.py.
        """
        if int8 and bf16:
            raise ValueError("choose int8 or bf16, not both")
        if bf16:
            require_bf16(device)
        if int8 and torch.device(device).type != "cpu":
            raise CheckpointError("int8 quantization is for CPU inference only")
        if threads:
            torch.set_num_threads(threads)
        paths = spec_members(path)
        payloads = [load_checkpoint(p) for p in paths]
        if len(paths) > 1:
            check_members(paths, payloads)
        loaded = [_build(p, data, device) for p, data in zip(paths, payloads)]
        config, src_tok, tgt_tok, model, casing, calibration, casings, calibrations = loaded[0]
        if len(loaded) == 1:
            translator = cls(quantize_int8(model) if int8 else model, src_tok, tgt_tok, config,
                             payloads[0].get("meta", {}), device, bf16=bf16, casing=casing,
                             calibration=calibration, casings=casings,
                             calibrations=calibrations)
            translator.members = paths
            return translator
        models = [member[3] for member in loaded]
        meta, corpus = payloads[0].get("meta", {}), payloads[0].get("corpus") or {}
        del loaded, payloads  # the members' weights are in `models`
        translator = cls(Ensemble(models), src_tok, tgt_tok, config, meta, device,
                         casing=casing, casings=casings)
        translator.members = paths
        translator.calibration, translator.calibrations = ensemble_calibration(
            translator, paths, corpus.get("data"), calibrate)  # in fp32, before int8 / bf16
        if int8:
            translator.model = Ensemble([quantize_int8(m) for m in models]).prepare_inference()
        translator.bf16 = bf16
        return translator

    @property
    def src_lang(self) -> str | None:
        return self.meta.get("src_lang")

    @property
    def tgt_lang(self) -> str | None:
        return self.meta.get("tgt_lang")

    @property
    def multilingual(self) -> bool:
        return bool(self.meta.get("directions"))

    @property
    def directions(self) -> list[str]:
        """The directions the model translates ("de-en", ...): a multilingual model's, else its
        one pair's (none when the checkpoint does not name its languages)."""
        if self.multilingual:
            return list(self.meta["directions"])
        return [f"{self.src_lang}-{self.tgt_lang}"] if self.src_lang and self.tgt_lang else []

    def for_pair(self, src: str, tgt: str) -> Translator:
        """This model translating `src` -> `tgt`: for a multilingual model, a view of one of its
        directions that shares the model in memory; a model of one pair returns itself for that
        pair. UserError for a direction the model does not translate; CheckpointError for a
        damaged checkpoint whose vocabulary lacks a listed direction's target token."""
        direction = f"{src}-{tgt}"
        if not self.multilingual:
            if self.directions in ([], [direction]):
                return self
            raise UserError(f"this model translates {self.directions[0]}, not {direction}")
        if direction not in self.directions:
            raise UserError(f"this multilingual model translates {', '.join(self.directions)}; "
                            f"not {direction}")
        view = copy.copy(self)
        view.meta = {**self.meta, "src_lang": src, "tgt_lang": tgt}
        view.lang_id = self.src_tok.symbol_id(lang_token(tgt))
        if view.lang_id is None:
            raise CheckpointError(f"this multilingual checkpoint names {direction} among its "
                                  f"directions but its vocabulary has no "
                                  f"{lang_token(tgt)} token: it is damaged")
        view.casing = self.casings.get(src)
        view.calibration = self.calibrations.get(direction)
        return view

    def for_options(self, src: str | None, tgt: str | None) -> Translator:
        """The direction a command's `--src`/`--tgt` name: both required for a multilingual
        model; for a model of one pair, either may be left out (and must match if given)."""
        if not src and not tgt:
            self._check_direction()
            return self
        if self.multilingual and not (src and tgt):
            raise UserError("a multilingual model needs both --src and --tgt (it translates "
                            f"{', '.join(self.directions)})")
        return self.for_pair(src or self.src_lang, tgt or self.tgt_lang)

    def source_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The model's source ids of plain `texts` (no casing or protection: what training and
        validation read), a multilingual view's target-language token at the end."""
        ids = self.src_tok.encode(texts)
        return [seq + [self.lang_id] for seq in ids] if self._check_direction() else ids

    def _check_direction(self) -> bool:
        """Whether sources end in a language token; UserError for a multilingual model whose
        direction was not chosen."""
        if self.lang_id is not None:
            return True
        if self.multilingual:
            raise UserError(f"this multilingual model translates {', '.join(self.directions)}: "
                            f"choose the direction (`translate --src L --tgt L`; `evaluate "
                            f"--data DIR --src L --tgt L`, or `--direction S-T` with files; "
                            f"Translator.for_pair(src, tgt) in Python)")
        return False

    def translate(self, texts: Sequence[str], beam_size: int = BEAM_SIZE,
                  batch_tokens: int = BATCH_TOKENS,
                  progress: bool = False, on_batch: Callable[[int], None] | None = None,
                  **search_options) -> list[str]:
        """Translate segments; returns the best translation per input, in input order.

        `translate_hypotheses` gives n-best lists with scores (and attention on request).
        """
        n_best = self.translate_hypotheses(texts, beam_size=beam_size, batch_tokens=batch_tokens,
                                           progress=progress, on_batch=on_batch,
                                           **search_options)
        return [hyps[0][0] if hyps else "" for hyps in n_best]

    def translate_scored(self, texts: Sequence[str], beam_size: int = BEAM_SIZE,
                         batch_tokens: int = BATCH_TOKENS, progress: bool = False,
                         on_batch: Callable[[int], None] | None = None,
                         **search_options) -> list[Scored]:
        """Like `translate`, with the confidence of each translation (an empty input: 1.0)."""
        n_best = self.translate_hypotheses(texts, beam_size=beam_size, batch_tokens=batch_tokens,
                                           progress=progress, on_batch=on_batch,
                                           **search_options)
        return [Scored(hyps[0][0], self.confidence(hyps[0][1])) if hyps else Scored("", 1.0)
                for hyps in n_best]

    def translate_aligned(self, texts: Sequence[str], beam_size: int = BEAM_SIZE,
                          batch_tokens: int = BATCH_TOKENS, progress: bool = False,
                          on_batch: Callable[[int], None] | None = None,
                          **search_options) -> list[Aligned]:
        """Like `translate_scored`, with each output word's aligned source word (from the
        attention, which this asks the search for: translator/inference/align.py)."""
        cfg = SearchConfig(beam_size=beam_size, return_attention=True, **search_options)
        prepared, ids = self._prepare(texts)
        n_best = self._search(prepared, ids, cfg, batch_tokens, progress, on_batch)
        out = []
        for text, src_ids, hyps in zip(texts, ids, n_best):
            if not hyps:
                out.append(Aligned("", 1.0, []))
                continue
            output, hyp = hyps[0]
            attention = hyp.attention.tolist() if hyp.attention is not None else None
            if self.lang_id is not None:
                src_ids = src_ids[:-1]  # the language token is no source word
            alignment = output_alignment(output, text, self.src_tok.id_pieces(src_ids),
                                         self.tgt_tok.id_pieces(hyp.tokens), attention)
            out.append(Aligned(output, self.confidence(hyp), alignment))
        return out

    def confidence(self, hyp: Hypothesis) -> float:
        """The confidence (0..1) of one hypothesis: its mean token log-probability mapped by
        the checkpoint's calibration (translator/inference/confidence.py)."""
        x = mean_log_prob(hyp.log_prob, len(hyp.tokens))
        return round((self.calibration or uncalibrated)(x), 4)

    def translate_document(self, text: str, lang: str | None = None,
                           beam_size: int = BEAM_SIZE, batch_tokens: int = BATCH_TOKENS,
                           **search_options) -> str:
        """Translate a whole document: split into sentences with the source language's rules,
        translate them in batches, and reassemble keeping lines, paragraphs and blank lines."""
        from translator.inference.document import translate_document

        return translate_document(self, text, lang=lang or self.src_lang, beam_size=beam_size,
                                  batch_tokens=batch_tokens, **search_options)

    def translate_hypotheses(
        self, texts: Sequence[str], beam_size: int = BEAM_SIZE, n_best: int = 1,
        batch_tokens: int = BATCH_TOKENS, progress: bool = False,
        on_batch: Callable[[int], None] | None = None, **search_options,
    ) -> list[list[tuple[str, Hypothesis]]]:
        """Translate segments; per input a list of (text, hypothesis) sorted best first.

        Inputs are sorted by length into token-budget batches and outputs restored to input
        order. An empty (or whitespace-only) input gives an empty output without running the model.
        `on_batch(n)` is called after each batch with the number of inputs done so far (it may
        raise to stop the translation, e.g. on cancellation).
        """
        cfg = SearchConfig(beam_size=beam_size, n_best=n_best, **search_options)
        prepared, ids = self._prepare(texts)
        return self._search(prepared, ids, cfg, batch_tokens, progress, on_batch)

    def translate_directions(self, items: Sequence[tuple[str, str]], beam_size: int = BEAM_SIZE,
                             n_best: int = 1, batch_tokens: int = BATCH_TOKENS,
                             **search_options) -> list[list[tuple[str, Hypothesis]]]:
        """`translate_hypotheses` of (direction, text) items, each in its own direction
        ("de-fr") of this multilingual model, decoded in shared batches (a micro-batch of
        several directions); each item prepared by its direction's view (`for_pair`)."""
        prepared: list = [None] * len(items)
        ids: list = [None] * len(items)
        for direction in dict.fromkeys(d for d, _ in items):
            rows = [i for i, (d, _) in enumerate(items) if d == direction]
            view = self.for_pair(*direction.split("-", 1))
            for i, p, seq in zip(rows, *view._prepare([items[i][1] for i in rows])):
                prepared[i], ids[i] = p, seq
        cfg = SearchConfig(beam_size=beam_size, n_best=n_best, **search_options)
        return self._search(prepared, ids, cfg, batch_tokens, False, None)

    def _prepare(self, texts: Sequence[str]) -> tuple[list, list[list[int]]]:
        """The inputs through translator/inference/pipeline.py, and their source ids (truncated to
        `max_src_tokens` ids, a multilingual view's language token included)."""
        adds_token = self._check_direction()
        prepared = prepare(texts, self.src_tok, self.casing, self.protect, self.recase)
        ids = [p.ids for p in prepared]
        longest = self.max_src_tokens - int(adds_token)
        for i, seq in enumerate(ids):
            if len(seq) > longest:
                log.warning("input %d has %d subword tokens; truncated to %d",
                            i, len(seq), longest)
                ids[i] = seq = seq[:longest]
            if adds_token:
                ids[i] = [*seq, self.lang_id]
        return prepared, ids

    def _search(self, prepared: list, ids: list[list[int]], cfg: SearchConfig,
                batch_tokens: int, progress: bool, on_batch: Callable[[int], None] | None
                ) -> list[list[tuple[str, Hypothesis]]]:
        """Decode prepared inputs in token-budget batches (see `translate_hypotheses`)."""
        results: list[list[tuple[str, Hypothesis]]] = [[] for _ in prepared]
        todo = [i for i, p in enumerate(prepared) if p.text]
        lengths = [len(ids[i]) + 1 for i in todo]  # + EOS, which source_tensors appends
        batches = token_budget_batches(  # each sentence decodes beam_size rows
            lengths, max(1, batch_tokens // max(1, cfg.beam_size)))
        done = len(prepared) - len(todo)  # empty inputs need no model
        bar = tqdm(total=len(todo), disable=not progress, unit="sent", desc="translate",
                   file=sys.stderr)
        for batch in batches:
            rows = [todo[j] for j in batch]
            src, src_lens = source_tensors([ids[i] for i in rows])
            batch_cfg = cfg
            # attention asked for only to restore protected spans is dropped after
            if not cfg.return_attention and any(prepared[i].needs_attention for i in rows):
                batch_cfg = dataclasses.replace(cfg, return_attention=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                hyps = search(self.model, src.to(self.device), src_lens.to(self.device),
                              batch_cfg)
            for i, sent_hyps in zip(rows, hyps):
                results[i] = [(self._finish(prepared[i], h), h) for h in sent_hyps]
                if batch_cfg is not cfg:
                    for h in sent_hyps:
                        h.attention = None
            bar.update(len(rows))
            done += len(rows)
            if on_batch is not None:
                on_batch(done)
        bar.close()
        return results

    def _finish(self, prepared, hyp: Hypothesis) -> str:
        attention = hyp.attention.tolist() if prepared.spans and hyp.attention is not None \
            else None
        return finish(prepared, hyp.tokens, self.tgt_tok, attention)


def _build(path: str, data: dict, device: str) -> tuple:
    """(config, source and target tokenizers, fp32 model on `device`, casing table,
    calibration, a multilingual model's casing tables per source language and calibrations
    per direction) of a loaded checkpoint; CheckpointError naming `path` if unusable."""
    try:
        config = Config.from_dict(data["config"])
        src_tok = Tokenizer(data["spm"]["src"])
        tgt_tok = Tokenizer(data["spm"]["tgt"])
        model = Seq2Seq(config.model, len(src_tok), len(tgt_tok))
        model.load_state_dict(data["model"])
        casing = CasingTable.from_dict(data["casing"]["src"]) if data.get("casing") else None
        casings = {lang: CasingTable.from_dict(table)
                   for lang, table in (data.get("casing") or {}).get("langs", {}).items()}
        confidence = data.get("confidence") or {}
        calibrations = {d: Calibration.from_dict(fitted)
                        for d, fitted in confidence.get("directions", {}).items()}
        calibration = (Calibration.from_dict(confidence)
                       if confidence and not calibrations else None)
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} cannot be loaded: {str(exc).splitlines()[0]}") from None
    return (config, src_tok, tgt_tok, model.to(device).eval(), casing, calibration, casings,
            calibrations)
