"""A run that starts from another run's weights (`translator train --init CHECKPOINT`, the
recipe's back-translated model starting from its baseline): the checkpoint's model and
vocabulary, with a new optimizer, learning-rate schedule and step count, the way fairseq's
`--restore-file --reset-optimizer` or Marian's `--pretrained-model` continue a model on new
data. The checkpoint must be of the run's languages and model settings (dropout aside), and
its vocabulary must hold the symbols the run needs (an extra corpus's tag): anything else is
refused before training starts. The run takes the checkpoint's vocabulary settings."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from translator.checkpoint import load_checkpoint
from translator.config import Config, ConfigError
from translator.data.vocab import Tokenizer
from translator.errors import UserError

FREE_MODEL_KEYS = ("dropout", "emb_dropout")
"""Model settings a warm start may change: they shape no weight (the run's values apply)."""

LANGUAGE_KEYS = ("src_lang", "tgt_lang", "langs")
"""What must match in a checkpoint's `meta`: a pair's languages, or a multilingual model's (its
directions may differ: its language tokens are in the vocabulary either way)."""


def read_start(path: str | Path, cfg: Config, languages: dict) -> tuple[dict, Config]:
    """The start checkpoint's contents, checked against the run's `languages`
    (`run_languages`: a pair's src_lang/tgt_lang, a multilingual run's langs/directions) and
    config, and the run's config with the checkpoint's vocabulary section (its tokenizers are
    the run's: the settings that made them describe them)."""
    data = load_checkpoint(path)
    theirs_meta = {k: _listed(v) for k, v in data.get("meta", {}).items() if k in LANGUAGE_KEYS}
    ours_meta = {k: _listed(v) for k, v in languages.items() if k in LANGUAGE_KEYS}
    if theirs_meta != ours_meta:
        found = ", ".join(f"{k} {v}" for k, v in theirs_meta.items()) or "none recorded"
        raise UserError(f"--init {path}: a model of other languages ({found}) than this run's")
    try:
        theirs = Config.from_dict(data["config"])
    except ConfigError as exc:  # a checkpoint of a newer release
        raise UserError(f"--init {path}: {exc}") from None
    model_ours, model_theirs = asdict(cfg.model), asdict(theirs.model)
    differ = [f"model.{key}" for key in sorted(model_ours)
              if key not in FREE_MODEL_KEYS and model_ours[key] != model_theirs.get(key)]
    if differ:
        raise UserError(f"--init {path}: its model settings differ from this run's "
                        f"({', '.join(differ)}): train with the checkpoint's preset and config")
    missing = [s for s in cfg.vocab.symbols if s not in theirs.vocab.symbols]
    if missing:
        raise UserError(f"--init {path}: its vocabulary has no {', '.join(missing)} (the run "
                        f"needs them: an --extra corpus's tag, a language token); start from a "
                        f"model trained with them in vocab.symbols, or train without them")
    return data, cfg.override("vocab", **asdict(theirs.vocab))


def tokenizers(start: dict) -> tuple[Tokenizer, Tokenizer]:
    """A checkpoint's SentencePiece models (a warm start's, a resumed run's): the run encodes
    its data with them."""
    return Tokenizer(start["spm"]["src"]), Tokenizer(start["spm"]["tgt"])


def load_weights(model: torch.nn.Module, start: dict, path: str | Path) -> None:
    try:
        model.load_state_dict(start["model"])
    except RuntimeError as exc:  # shapes that the settings' check let through
        lines = str(exc).splitlines()
        detail = lines[1].strip() if len(lines) > 1 else lines[0]
        raise UserError(f"--init {path}: its weights do not fit this run's model: {detail}"
                        ) from None


def _listed(value):
    return list(value) if isinstance(value, (list, tuple)) else value
