"""`Translator`: the one front door to a trained model (CLI, worker and evaluation use it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from .batching import source_tensors, token_budget_batches
from .checkpoint import CheckpointError, load_checkpoint
from .config import Config, ConfigError
from .data import normalize
from .model import Seq2Seq
from .search import Hypothesis, SearchConfig, search
from .vocab import Tokenizer

log = logging.getLogger(__name__)


class Translator:
    """A loaded model with its tokenizers; translates lists of segments in batches."""

    def __init__(self, model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, config: Config,
                 meta: dict | None = None, device: str = "cpu", max_src_tokens: int = 250):
        self.model = model.eval()
        self.src_tok, self.tgt_tok = src_tok, tgt_tok
        self.config, self.meta = config, meta or {}
        self.device = torch.device(device)
        self.max_src_tokens = max_src_tokens

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu",
                        threads: int | None = None) -> Translator:
        """Load a checkpoint written by `translator train`; raises CheckpointError if unusable."""
        if threads:
            torch.set_num_threads(threads)
        data = load_checkpoint(path)
        try:
            config = Config.from_dict(data["config"])
            src_tok = Tokenizer(data["spm"]["src"])
            tgt_tok = Tokenizer(data["spm"]["tgt"])
            model = Seq2Seq(config.model, len(src_tok), len(tgt_tok))
            model.load_state_dict(data["model"])
        except (ConfigError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{path} cannot be loaded: {str(exc).splitlines()[0]}") from None
        model.to(device)
        return cls(model, src_tok, tgt_tok, config, data.get("meta", {}), device)

    @property
    def src_lang(self) -> str | None:
        return self.meta.get("src_lang")

    @property
    def tgt_lang(self) -> str | None:
        return self.meta.get("tgt_lang")

    def translate(self, texts: Sequence[str], beam_size: int = 1, batch_tokens: int = 4000,
                  **search_options) -> list[str]:
        """Translate segments; returns one string per input, in input order."""
        n_best = self.translate_hypotheses(texts, beam_size=beam_size, batch_tokens=batch_tokens,
                                           **search_options)
        return [hyps[0][0] if hyps else "" for hyps in n_best]

    def translate_hypotheses(
        self, texts: Sequence[str], beam_size: int = 1, n_best: int = 1,
        batch_tokens: int = 4000, **search_options,
    ) -> list[list[tuple[str, Hypothesis]]]:
        """Translate segments; per input a list of (text, hypothesis) sorted best first.

        Inputs are sorted by length into token-budget batches and outputs restored to input
        order. An empty (or whitespace-only) input gives an empty output without running the model.
        """
        cfg = SearchConfig(beam_size=beam_size, n_best=n_best, **search_options)
        texts = [normalize(t) for t in texts]
        ids = self.src_tok.encode(texts)
        for i, seq in enumerate(ids):
            if len(seq) > self.max_src_tokens:
                log.warning("input %d has %d subword tokens; truncated to %d",
                            i, len(seq), self.max_src_tokens)
                ids[i] = seq[: self.max_src_tokens]
        results: list[list[tuple[str, Hypothesis]]] = [[] for _ in texts]
        todo = [i for i, t in enumerate(texts) if t]
        lengths = [len(ids[i]) + 1 for i in todo]
        for batch in token_budget_batches(lengths, max(1, batch_tokens // max(1, beam_size))):
            rows = [todo[j] for j in batch]
            src, src_lens = source_tensors([ids[i] for i in rows])
            hyps = search(self.model, src.to(self.device), src_lens.to(self.device), cfg)
            for i, sent_hyps in zip(rows, hyps):
                texts_out = self.tgt_tok.decode([h.tokens for h in sent_hyps])
                results[i] = list(zip(texts_out, sent_hyps))
        return results
