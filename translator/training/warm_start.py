"""A run that starts from another run's weights (`translator train --init CHECKPOINT`, the
recipe's back-translated model starting from its baseline): the checkpoint's model and
vocabulary, with a new optimizer, learning-rate schedule and step count, the way fairseq's
`--restore-file --reset-optimizer` or Marian's `--pretrained-model` continue a model on new
data. The checkpoint must be of the run's languages and of its model and vocabulary settings:
anything else is refused before training starts."""

from __future__ import annotations

from pathlib import Path

import torch

from translator.checkpoint import load_checkpoint
from translator.config import Config
from translator.data.vocab import Tokenizer
from translator.errors import UserError

SECTIONS = ("model", "vocab")
"""The settings a start checkpoint must share with the run (its weights' shapes, its pieces)."""


def read_start(path: str | Path, cfg: Config, languages: dict) -> dict:
    """The start checkpoint's contents, checked against the run's config and `languages`
    (`run_languages`: a pair's src_lang/tgt_lang, a multilingual run's langs/directions)."""
    data = load_checkpoint(path)
    theirs = Config.from_dict(data["config"]).to_dict()
    ours = cfg.to_dict()
    differ = [f"{section}.{key}" for section in SECTIONS
              for key in sorted({**theirs[section], **ours[section]})
              if theirs[section].get(key) != ours[section].get(key)]
    if differ:
        raise UserError(f"--init {path}: its settings differ from this run's ({', '.join(differ)}):"
                        f" train with the same preset and config as the checkpoint")
    meta = data.get("meta", {})
    mismatched = [key for key, value in languages.items()
                  if key in meta and _listed(meta[key]) != _listed(value)]
    if mismatched:
        found = ", ".join(f"{key} {meta[key]}" for key in mismatched)
        raise UserError(f"--init {path}: a model of other languages ({found}) than this run's")
    return data


def tokenizers(start: dict) -> tuple[Tokenizer, Tokenizer]:
    """The start checkpoint's SentencePiece models: the run encodes its data with them."""
    return Tokenizer(start["spm"]["src"]), Tokenizer(start["spm"]["tgt"])


def load_weights(model: torch.nn.Module, start: dict, path: str | Path) -> None:
    try:
        model.load_state_dict(start["model"])
    except RuntimeError as exc:  # shapes that the settings' check let through
        raise UserError(f"--init {path}: its weights do not fit this run's model: "
                        f"{str(exc).splitlines()[0]}") from None


def _listed(value):
    return list(value) if isinstance(value, (list, tuple)) else value
