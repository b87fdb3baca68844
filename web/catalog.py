"""The language pairs this server translates, as the API's /models and /pairs, the
LibreTranslate API's /languages and the status page list them: each pair's scores and whether
the workers could load its checkpoints."""

from __future__ import annotations

import re

import redis

from .extensions import pair_label, settings, store


def unavailable_pairs() -> dict[str, str]:
    """{pair: why} of the model pairs whose checkpoint no worker could load (the workers
    check theirs when they start and say so in the registry); {} without Redis."""
    try:
        workers = store().worker_info()
    except redis.RedisError:
        return {}
    ready = {p for w in workers.values() for p in (w.get("ready") or [])}
    return {pair: why for w in workers.values() for pair, why in (w.get("failed") or {}).items()
            if pair not in ready}


def model_list() -> list[dict]:
    """Each pair with a model (its test scores, where its run recorded them; `multilingual`
    when a multilingual checkpoint serves it) and each one reached through the pivot language
    (`via`); `available` false with the `reason` where a
    step's checkpoint could not be loaded."""
    entries = settings().model_entries()
    broken = unavailable_pairs()
    out = []
    for src, targets in settings().reachable().items():
        for tgt, via in targets.items():
            pair = f"{src}-{tgt}"
            item = {"pair": pair, "label": pair_label(pair)}
            reasons = [f"{step}: {broken[step]}" for step in settings().route(pair) or []
                       if step in broken]
            item["available"] = not reasons
            if reasons:
                item["reason"] = "; ".join(reasons)
            if via:
                item.update(via=via, steps=settings().route(pair))
            else:
                entry = entries[pair]
                item.update(test_set=entry.get("test_set", "test_2016_flickr"),
                            bleu=entry["test"].get("bleu_beam5"),
                            chrf=entry["test"].get("chrf_beam5"),
                            multilingual=bool(entry.get("multilingual")))
            out.append(item)
    return out


def by_checkpoint(names: dict[str, str]) -> dict[str, list[str]]:
    """{checkpoint: its names, sorted} of {name (a pair, a served name): checkpoint}: a
    multilingual model once, with every direction it serves."""
    out: dict[str, list[str]] = {}
    for name, path in names.items():
        out.setdefault(path, []).append(name)
    return {path: sorted(group) for path, group in out.items()}


def checkpoint_labels(known: dict[str, str]) -> dict[str, str]:
    """{checkpoint: its label} of the known checkpoints ({name: checkpoint}), one per
    checkpoint: the served names of one model's pairs folded into one, `de-en, fr-en
    (best.pt)`, others joined."""
    labels = {}
    for path, names in by_checkpoint(known).items():
        served = [re.fullmatch(r"(\S+) \((.+)\)", name) for name in names]
        files = {m[2] for m in served if m}
        if len(names) > 1 and all(served) and len(files) == 1:
            labels[path] = f"{', '.join(m[1] for m in served)} ({files.pop()})"
        else:
            labels[path] = ", ".join(names)
    return labels
