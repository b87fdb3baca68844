"""Shared fixtures: one CPU thread, a synthetic reverse-the-words corpus, one trained tiny model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from translator.config import preset

torch.set_num_threads(1)

SRC, TGT = "xx", "yy"
WORDS = ["red", "blue", "cat", "dog", "sun", "moon", "tree", "fish", "bird", "star", "rock",
         "leaf"]
SPLITS = {"train": 3000, "val": 100, "test_2016_flickr": 100}


def reverse_pairs(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Source: 3..8 random words; target: the same words in reverse order."""
    pairs = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    return pairs


def write_reverse_corpus(directory: Path, seed: int = 0) -> Path:
    """Write the reverse task in the Multi30K layout: {split}.xx / {split}.yy."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in SPLITS.items():
        pairs = reverse_pairs(n, rng)
        (directory / f"{split}.{SRC}").write_text("".join(s + "\n" for s, _ in pairs))
        (directory / f"{split}.{TGT}").write_text("".join(t + "\n" for _, t in pairs))
    return directory


def tiny_config(**train):
    """The tiny preset on one thread, with train-section overrides."""
    return preset("tiny").override("train", threads=1, **train)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def reverse_corpus(tmp_path_factory) -> Path:
    return write_reverse_corpus(tmp_path_factory.mktemp("reverse_corpus"))


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    """A private, writable copy of the reverse corpus (tests may break it)."""
    return write_reverse_corpus(tmp_path / "corpus")


TRAINED_STEPS = 500  # the reverse task reaches ~100 validation BLEU by step 300


@pytest.fixture(scope="session")
def trained_run(reverse_corpus, tmp_path_factory) -> dict:
    """Train the tiny preset once on the reverse task; returns the run dir, summary and timing."""
    import time

    from translator.train import Trainer

    out = tmp_path_factory.mktemp("tiny_run")
    cfg = tiny_config(max_steps=TRAINED_STEPS, max_minutes=1.0, eval_every=100)
    start = time.perf_counter()
    trainer = Trainer(cfg, reverse_corpus, SRC, TGT, out, progress=False)
    summary = trainer.run()
    seconds = time.perf_counter() - start
    torch.set_num_threads(1)
    return {"dir": out, "summary": summary, "seconds": seconds}


@pytest.fixture(scope="session")
def trained_translator(trained_run):
    from translator.translator import Translator

    return Translator.from_checkpoint(trained_run["dir"] / "best.pt")
