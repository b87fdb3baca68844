"""Per-sentence confidence in 0..1 from the model's own probabilities.

The feature is the hypothesis' mean log-probability per target token (EOS included): how sure
the model was of each word it chose. It is mapped to 0..1 by a logistic curve
`1 / (1 + exp(-(a * x + b)))` fitted by least squares to the sentence-level chrF (/100) of the
validation set's translations, so a confidence reads as the chrF the model expects for that
sentence; a uniform guess over the vocabulary anchors the curve at 0 (see `fit`).
`translator train` fits it on the validation set at the end of training and stores it in the
checkpoint (`confidence`); `translator calibrate` does the same for an older checkpoint.
Without a calibration the confidence is exp(x), the geometric mean of the token probabilities.

How well it ranks translations (Pearson and Spearman against sentence chrF, chrF of the lowest
and highest deciles) is measured by benchmarks/confidence.py (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch


def mean_log_prob(log_prob: float, n_tokens: int) -> float:
    """Mean log-probability per token of a hypothesis of `n_tokens` tokens plus EOS."""
    return log_prob / (n_tokens + 1)


@dataclass(frozen=True)
class Calibration:
    """The logistic curve sigmoid(a x + b) from a translation's mean token log-probability x
    to the sentence chrF (/100) the model expects, fitted (`fit`) on `sentences` of `split`."""

    a: float
    b: float
    sentences: int = 0  # validation sentences it was fitted on
    split: str = "val"

    def __call__(self, x: float) -> float:
        z = self.a * x + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(float(data["a"]), float(data["b"]), int(data.get("sentences", 0)),
                   str(data.get("split", "val")))


def uncalibrated(x: float) -> float:
    return math.exp(min(0.0, x))


ANCHOR_WEIGHT = 0.02
"""Weight of the anchor point, as a share of the validation sentences."""


def fit(features: Sequence[float], quality: Sequence[float], split: str = "val",
        anchor: float | None = None) -> Calibration:
    """Least-squares logistic fit of `quality` (in 0..1) on `features` (mean log-probs).

    `anchor`, the mean log-probability of a uniform guess (-log vocabulary size), is added as a
    point of quality 0 with ANCHOR_WEIGHT: a validation set the model translates (nearly)
    perfectly says nothing about bad translations, and without the anchor its fit is flat,
    giving nonsense the same confidence as a good translation.
    """
    if len(features) != len(quality) or len(features) < 2:
        raise ValueError("a calibration needs at least two (feature, quality) pairs")
    x = torch.tensor(features, dtype=torch.float64)
    y = torch.tensor(quality, dtype=torch.float64).clamp(0, 1)
    w = torch.ones_like(x)
    if anchor is not None:
        x, y = torch.cat([x, x.new_tensor([anchor])]), torch.cat([y, y.new_tensor([0.0])])
        w = torch.cat([w, w.new_tensor([max(1.0, ANCHOR_WEIGHT * len(features))])])
    mean, std = x.mean(), x.std().clamp(min=1e-6)
    params = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        predicted = torch.sigmoid(params[0] * (x - mean) / std + params[1])
        loss = (w * (predicted - y) ** 2).sum() / w.sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    params = params.detach()
    a = float(params[0] / std)
    return Calibration(a, float(params[1] - a * mean), len(features), split)
