"""Typed configuration: dataclasses that reject unknown keys, named presets, YAML files.

A `Config` has four sections (`data`, `vocab`, `model`, `train`). It is built from a preset,
then overridden by a YAML file, then by command-line options; every layer goes through
`Config.from_dict`, which raises `ConfigError` on any key it does not know.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration file or dictionary is invalid (unknown key, wrong type, bad value)."""


def _check_type(section: str, name: str, value: Any, expected: Any) -> Any:
    """Validate (and lightly coerce) one value against the field's annotated type."""
    kind = expected if isinstance(expected, str) else getattr(expected, "__name__", str(expected))
    if kind in ("int",):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{section}.{name} must be an integer, got {value!r}")
    elif kind in ("float",):
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{section}.{name} must be a number, got {value!r}")
        value = float(value)
    elif kind in ("bool",):
        if not isinstance(value, bool):
            raise ConfigError(f"{section}.{name} must be true or false, got {value!r}")
    elif kind in ("str",):
        if not isinstance(value, str):
            raise ConfigError(f"{section}.{name} must be a string, got {value!r}")
    elif kind in ("list[str]",):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{section}.{name} must be a list of strings, got {value!r}")
        value = list(value)
    elif kind.startswith("float | None") or kind.startswith("int | None"):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{section}.{name} must be a number or null, got {value!r}")
    return value


class _Section:
    """Mixin: build a dataclass from a dict, rejecting unknown keys and checking types."""

    _choices: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_dict(cls, values: dict[str, Any], section: str) -> Any:
        if not isinstance(values, dict):
            raise ConfigError(f"section '{section}' must be a mapping, got {type(values).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown key(s) in section '{section}': {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        checked = {k: _check_type(section, k, v, known[k].type) for k, v in values.items()}
        obj = cls(**checked)
        obj.validate(section)
        return obj

    def validate(self, section: str) -> None:
        for name, allowed in self._choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{section}.{name} must be one of {allowed}, got {value!r}")


@dataclass
class DataConfig(_Section):
    """`data:` what a run trains on: the filters of training pairs, extra (synthetic) corpora,
    a multilingual run's languages and directions, subword regularisation."""

    max_len: int = 100  # subword tokens; longer training pairs are dropped
    max_ratio: float = 3.0  # drop training pairs whose length ratio (chars) exceeds this
    min_len_for_ratio: int = 10  # the ratio filter needs this many chars on the longer side
    # Extra parallel corpora mixed with the real one (back- or forward-translated): "DIR" or
    # "DIR:TAG", where TAG (e.g. "<bt>", a vocab symbol) starts each of its sources so the model
    # knows them synthetic; `extra_ratio` extra pairs per real pair, the real pairs repeated to
    # keep it (translator/data/mixing.py)
    extra: list[str] = field(default_factory=list)
    extra_ratio: float = 1.0
    # A multilingual run (translator/data/multilingual.py): the languages of a multi-way corpus
    # (train.<lang> files aligned line by line) and the directions trained, "src-tgt" each;
    # empty for a run of one pair (`translator train --src --tgt`)
    langs: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    # Subword regularisation (translator/data/sampling.py): > 0 segments each training batch
    # anew by sampling with this smoothing (unigram; BPE: its merge-dropout probability)
    subword_alpha: float = 0.0

    def validate(self, section: str) -> None:
        super().validate(section)
        if not 0 <= self.subword_alpha <= 1:
            raise ConfigError(f"{section}.subword_alpha must be between 0 (off) and 1, got "
                              f"{self.subword_alpha}")
        if self.extra_ratio <= 0:
            raise ConfigError(f"{section}.extra_ratio must be positive, got {self.extra_ratio}")
        if self.directions and not self.langs:
            raise ConfigError(f"{section}.directions needs {section}.langs")
        if self.langs and (len(set(self.langs)) < 2 or not self.directions):
            raise ConfigError(f"{section}.langs needs two languages or more and "
                              f"{section}.directions: list the directions in the file, or "
                              f"give `translator train --langs L1,L2,...` (with --directions "
                              f"or --english-centric), which sets both")
        for direction in self.directions:
            src, _, tgt = direction.partition("-")
            if src == tgt or src not in self.langs or tgt not in self.langs:
                raise ConfigError(f"{section}.directions: {direction!r} is not a pair of two "
                                  f"of the languages {', '.join(self.langs)}")


@dataclass
class VocabConfig(_Section):
    """`vocab:` the SentencePiece model(s) a run trains: kind, size, shared or per side, and
    control symbols (a multilingual run's target-language tokens, back-translation tags)."""

    model_type: str = "unigram"
    size: int = 4000  # SentencePiece vocabulary size (not defaults.BATCH_TOKENS, a decoding budget)
    joint: bool = True
    character_coverage: float = 1.0
    max_sentences: int = 200_000  # sentences SentencePiece samples for training
    # control symbols of the vocabulary (one id each, never produced from raw text): tags such
    # as "<bt>" that `data.extra` puts before synthetic sources
    symbols: list[str] = field(default_factory=list)

    _choices = {"model_type": ("unigram", "bpe")}

    def validate(self, section: str) -> None:
        super().validate(section)
        if self.size < 16:
            raise ConfigError(f"{section}.size must be at least 16, got {self.size}")


@dataclass
class ModelConfig(_Section):
    """`model:` the layer sizes and kinds of the encoder-decoder (translator/model/)."""

    emb_dim: int = 256
    enc_hidden: int = 256  # per direction
    enc_layers: int = 2
    dec_hidden: int = 512
    dec_layers: int = 1  # with "fused", layer 2.. read [h; attention context]
    decoder: str = "fused"  # fused: attention after the LSTM; input_feeding: Luong step loop
    attn_dim: int = 256  # size of the attentional vector fed to the (tied) output layer
    dropout: float = 0.3
    emb_dropout: float = 0.3
    tie_embeddings: bool = True
    # Multiply embeddings by sqrt(emb_dim) where they enter an LSTM (they start small, being
    # tied to the output layer): the "quick" preset's, for budgets up to about 1,000 updates.
    # At 550 updates it took test BLEU from 15.6 to 26.7; at 1,700 it cost 1.1 (37.75 -> 36.65,
    # benchmarks/RESULTS.md), so the base model keeps it off, as do checkpoints without the key.
    emb_scale: bool = False
    # The factor `emb_scale` multiplies by; 0: sqrt(emb_dim) (16 at the base size). A smaller
    # one (4, say) is the middle way between unscaled embeddings, whose runs learn to read the
    # source late and by chance of the seed, and the full scale, which loses at long budgets.
    emb_scale_factor: float = 0.0

    _choices = {"decoder": ("fused", "input_feeding")}

    def validate(self, section: str) -> None:
        super().validate(section)
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.emb_dropout < 1.0:
            raise ConfigError(f"{section}.dropout values must be in [0, 1)")
        if not (math.isfinite(self.emb_scale_factor) and self.emb_scale_factor >= 0):
            raise ConfigError(f"{section}.emb_scale_factor must be 0 (sqrt(emb_dim)) or a "
                              f"positive number")
        if self.emb_scale_factor and not self.emb_scale:
            raise ConfigError(f"{section}.emb_scale_factor scales only with emb_scale: true")
        if self.tie_embeddings and self.attn_dim != self.emb_dim:
            raise ConfigError(f"{section}: tie_embeddings needs attn_dim == emb_dim")


@dataclass
class TrainConfig(_Section):
    """`train:` how a run learns and when it stops: batches, optimiser and schedule, budget,
    validation and checkpoints, device and threads."""

    batch_tokens: int = 3000  # token budget per batch (max of source and target tokens)
    lr: float = 2e-3
    min_lr: float = 1e-5
    warmup_steps: int = 50
    # After warmup: "wsd" (warmup-stable-decay) holds `lr` until the last `decay_fraction` of
    # the budget and decays linearly to `min_lr` there; "cosine" decays over the whole budget;
    # "constant" never decays. wsd, because a short budget learns fastest at full rate: at 550
    # updates it scored 15.6 test BLEU against cosine's 8.2 (benchmarks/RESULTS.md).
    schedule: str = "wsd"
    decay_fraction: float = 0.2
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    label_smoothing: float = 0.1
    max_steps: int = 0  # 0 = no step limit
    max_epochs: int = 0  # 0 = no epoch limit
    max_minutes: float = 0.0  # 0 = no time limit
    eval_every: int = 300  # steps between validations
    eval_max_sentences: int = 0  # 0 = the whole validation set
    save_every: int = 150  # steps between periodic checkpoints and last.pt (0 = none)
    keep_periodic: int = 5
    # also keep every periodic checkpoint whose step is a multiple of this, for the run's
    # history (`translator evaluate --run`); 0 = keep only the last `keep_periodic`
    keep_every: int = 0
    patience: int = 10  # validations without BLEU improvement before stopping (0 = never)
    average_last: int = 5  # average the last N periodic checkpoints at the end (0 = off)
    log_every: int = 50
    seed: int = 1234
    threads: int = 2  # torch CPU threads (per rank under torchrun)
    device: str = "cpu"
    amp: bool = True  # mixed precision on CUDA
    accum_steps: int = 1  # batches per rank accumulated into one update
    dist_timeout_minutes: float = 60.0  # under torchrun: the longest any collective may wait

    _choices = {"schedule": ("cosine", "constant", "wsd"), "device": ("cpu", "cuda")}

    def validate(self, section: str) -> None:
        super().validate(section)
        if self.accum_steps < 1:
            raise ConfigError(f"{section}.accum_steps must be at least 1, got {self.accum_steps}")
        if self.dist_timeout_minutes <= 0:
            raise ConfigError(f"{section}.dist_timeout_minutes must be positive")
        if self.keep_every < 0:
            raise ConfigError(f"{section}.keep_every must be 0 (off) or a number of steps")


LATER_TRAIN_KEYS = ("accum_steps", "dist_timeout_minutes", "decay_fraction", "keep_every")
"""Train keys added after checkpoints were first served by a release (0.1.0, commit 1fe94ba,
whose workers a rolling upgrade still runs): see `Config.for_checkpoint`. (The "wsd" schedule
is as new: a run that uses it, the base preset's default since 0.3.0, does not load in 0.1.0.)"""

LATER_MODEL_KEYS = ("emb_scale", "emb_scale_factor")
"""Model keys added since 0.1.0, whose default is the model 0.1.0 built: left out of a
checkpoint while at their default, like `LATER_TRAIN_KEYS`, so such a model still loads in 0.1.0
workers. A model trained with `emb_scale: true` (the quick preset, 0.3.0) does not, nor one
with `emb_scale_factor` in workers older than that key."""

LATER_DATA_KEYS = ("extra", "extra_ratio", "langs", "directions", "subword_alpha")
LATER_VOCAB_KEYS = ("symbols",)
"""Data and vocab keys added since 0.1.0, left out of a checkpoint while at their default."""

SECTIONS = {"data": DataConfig, "vocab": VocabConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass
class Config:
    """A run's whole configuration: the four sections of a --config YAML file (unknown keys
    and values of the wrong type are refused with a ConfigError naming them)."""

    data: DataConfig = field(default_factory=DataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: Config | None = None) -> Config:
        """Build a config from nested dicts; keys absent from `values` come from `base`."""
        if not isinstance(values, dict):
            raise ConfigError("a configuration must be a mapping of sections")
        unknown = sorted(set(values) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                f"unknown section(s): {', '.join(unknown)} (known: {', '.join(SECTIONS)})"
            )
        merged = (base or cls()).to_dict()
        for name, section_values in values.items():
            if section_values is None:
                continue
            if not isinstance(section_values, dict):
                raise ConfigError(f"section '{name}' must be a mapping")
            merged[name].update(section_values)
        sections = {name: SECTIONS[name].from_dict(merged[name], name) for name in SECTIONS}
        return cls(**sections)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def for_checkpoint(self) -> dict[str, dict[str, Any]]:
        """`to_dict` without the keys of the `LATER_*_KEYS` that hold
        their default: a checkpoint of a run that did not use them loads in releases that do
        not know them (their configs reject unknown keys); reading fills the defaults back in."""
        out = self.to_dict()
        for section, names, defaults in (("train", LATER_TRAIN_KEYS, TrainConfig()),
                                         ("model", LATER_MODEL_KEYS, ModelConfig()),
                                         ("data", LATER_DATA_KEYS, DataConfig()),
                                         ("vocab", LATER_VOCAB_KEYS, VocabConfig())):
            for name in names:
                if out[section][name] == getattr(defaults, name):
                    del out[section][name]
        return out

    def override(self, section: str, **values: Any) -> Config:
        """A copy with `values` set in `section` (validated as a file's would be)."""
        return Config.from_dict({section: values}, base=self)


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # A model small enough to learn a synthetic task in seconds on a CPU.
    "tiny": {
        "vocab": {"size": 64, "model_type": "unigram"},
        "model": {
            "emb_dim": 64, "enc_hidden": 64, "enc_layers": 1, "dec_hidden": 128,
            "attn_dim": 64, "dropout": 0.0, "emb_dropout": 0.0,
        },
        "train": {
            "batch_tokens": 2000, "lr": 3e-3, "warmup_steps": 50, "eval_every": 100,
            "save_every": 0, "patience": 0, "label_smoothing": 0.0, "log_every": 20,
            "schedule": "constant",
        },
    },
    # The Multi30K model: chosen by measured BLEU per CPU-minute (benchmarks/RESULTS.md).
    "base": {},
    # The base model for short budgets (up to about 1,000 updates: `make run`'s 10 minutes):
    # scaled embeddings learn about twice as fast at first and fall behind later
    # (benchmarks/RESULTS.md, "The quick model's embeddings").
    "quick": {"model": {"emb_scale": True}},
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return Config.from_dict(copy.deepcopy(PRESETS[name]))


def load_config(path: str | Path, base: Config | None = None) -> Config:
    """Read a YAML config file on top of `base` (default: the built-in defaults)."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections")
    return Config.from_dict(values, base=base)
