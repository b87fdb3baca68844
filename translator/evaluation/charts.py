"""PNG charts of a comparison's analyses (`comparison.analyse`): grouped bars, one group per
bucket and one bar per system, with the bucket edges fixed across systems. Drawn to be read
at phone width: the page scales the image to the screen (about 360 px on a phone), so the
figure is small in inches and its text large in points. No torch.

System names are the users' text: matplotlib draws them as plain text (never HTML); a `$`
would start mathtext, so it is escaped.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: images only
from matplotlib.figure import Figure  # noqa: E402

CHARTS = ("by_source_length", "by_length_ratio", "word_f_by_frequency")
"""The charts a comparison draws, by the name of the analysis each reads."""

TITLES = {"by_source_length": "BLEU by source length",
          "by_length_ratio": "Output/reference length ratio",
          "word_f_by_frequency": "Word F-measure by frequency"}

FONT = 15  # points at DPI: about 14 px once the page scales the image to a phone's width
DPI = 100
SIZE = (4.8, 3.6)  # inches: 480 x 360 px before the legend
NAME_CHARS = 28


def plain(text: str, limit: int = NAME_CHARS) -> str:
    """A user's name as matplotlib plain text: cut to `limit` characters, `$` escaped (it
    would start mathtext, and an unbalanced one fails the drawing)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("$", r"\$")


def short_label(label: str, unit: str = "") -> str:
    """A bucket label for a narrow axis: the unit (which the axis title gives) dropped,
    `>= ` and `< ` as one sign."""
    if unit and label.endswith(unit):
        label = label[:-len(unit)]
    return label.replace(">= ", "≥").replace("< ", "<")


def grouped_bars(title: str, buckets: Sequence[str], series: Sequence[tuple[str, Sequence]],
                 ylabel: str, xlabel: str = "", percent: bool = False,
                 counts: Sequence[int] | None = None) -> bytes:
    """A PNG of grouped bars: `series` is [(system name, value per bucket)], a None value (an
    empty bucket) draws no bar; `counts` (per bucket) go under the bucket labels."""
    fig = Figure(figsize=SIZE, dpi=DPI)
    ax = fig.add_subplot()
    n = max(1, len(series))
    width = 0.8 / n
    for k, (name, values) in enumerate(series):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(buckets))]
        ys = [math.nan if v is None else (100 * v if percent else v) for v in values]
        ax.bar(xs, ys, width=width * 0.95, label=plain(name), color=f"C{k % 10}")
    labels = list(buckets)
    if counts is not None:
        labels = [f"{b}\n({c})" for b, c in zip(labels, counts)]
    crowded = len(buckets) > 5  # (labels such as 10-99 and 100-999 would run together)
    ax.set_xticks(range(len(buckets)), labels, fontsize=FONT - (4 if crowded else 2),
                  rotation=35 if crowded else 0, ha="right" if crowded else "center",
                  rotation_mode="anchor")
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=FONT - 2)
    ax.tick_params(axis="y", labelsize=FONT - 2)
    ax.set_title(title, fontsize=FONT + 1)
    ax.set_ylabel(ylabel + (" (%)" if percent else ""), fontsize=FONT - 1)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    below = -0.14 - (0.09 if counts is not None else 0) - (0.08 if xlabel else 0) \
        - (0.06 if crowded else 0)
    ax.legend(fontsize=FONT - 2, loc="upper center", bbox_to_anchor=(0.5, below), ncol=1,
              frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def chart(name: str, analysis: dict, names: Sequence[str]) -> bytes:
    """The PNG of one of CHARTS from a comparison's `analysis` and the systems' names;
    KeyError for an unknown name or an analysis the comparison does not have (no sources:
    no chart by source length)."""
    if name not in CHARTS:
        raise KeyError(name)
    data = analysis[name]
    if name == "by_source_length":
        return grouped_bars(TITLES[name], [short_label(b, " words") for b in data["buckets"]],
                            list(zip(names, data["bleu"])), "BLEU",
                            xlabel="source words (segments)", counts=data.get("segments"))
    if name == "by_length_ratio":
        return grouped_bars(TITLES[name], [short_label(b) for b in data["buckets"]],
                            list(zip(names, data["share"])), "segments", percent=True)
    return grouped_bars(TITLES[name], [short_label(b) for b in data["buckets"]],
                        list(zip(names, data["f"])), "F-measure",
                        xlabel="word frequency (reference words)", percent=True,
                        counts=data.get("reference_words"))
