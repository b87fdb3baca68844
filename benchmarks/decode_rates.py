"""Decode speed of several translators on the same sentences, alternated: the helper the
benchmarks that compare decoders share (ensemble.py, multilingual.py)."""

from __future__ import annotations

import time


def alternated_rates(arms: dict, sentences: list[str], beam: int, rounds: int,
                     warm_up: int = 50) -> dict[str, list[float]]:
    """Sentences per second of each arm's `translate(sentences)`, over `rounds` in which the
    arms take turns (reversed every other round, so a drift of the machine's speed falls on
    both); each arm first translates `warm_up` sentences."""
    for arm in arms.values():
        arm.translate(sentences[:warm_up], beam_size=beam)
    rates: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(rounds):
        for name in (list(arms) if r % 2 == 0 else list(arms)[::-1]):
            start = time.perf_counter()
            arms[name].translate(sentences, beam_size=beam)
            rates[name].append(len(sentences) / (time.perf_counter() - start))
            print(f"round {r + 1} {name}: {rates[name][-1]:.1f} sentences/s", flush=True)
    return rates
