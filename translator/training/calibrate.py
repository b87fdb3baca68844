"""What a checkpoint learns after training, from its corpus: the casing table of its training
source (translator/data/casing.py) and the confidence calibration on its validation set
(translator/inference/confidence.py). `translator train` runs it on `best.pt` at the end;
`translator calibrate` runs it on any checkpoint, e.g. one trained before these existed.

A multilingual checkpoint (translator/data/multilingual.py) gets a casing table per source
language (`casing.langs`) and a calibration per direction (`confidence.directions`), each
fitted on the same sample of `MULTILINGUAL_CALIBRATION_SENTENCES` validation lines."""

from __future__ import annotations

import math
from pathlib import Path

import sacrebleu

from translator.checkpoint import load_checkpoint, save_checkpoint
from translator.data.casing import CasingTable
from translator.data.corpus import ParallelCorpus, find_split_file, read_lines, read_split
from translator.defaults import BATCH_TOKENS, BEAM_SIZE, MULTILINGUAL_CALIBRATION_SENTENCES
from translator.evaluation.sentences import correlations
from translator.inference.confidence import fit, mean_log_prob


def calibrate_checkpoint(path: str | Path, data_dir: str | Path, split: str = "val",
                         beam_size: int = BEAM_SIZE, batch_tokens: int = BATCH_TOKENS,
                         out: str | Path | None = None, table: CasingTable | None = None,
                         tables: dict[str, CasingTable] | None = None) -> dict:
    """Add `casing` and `confidence` to the checkpoint at `path` (written to `out`, default in
    place, atomically). `table` (`tables`, per source language, for a multilingual model) is
    the casing table if the caller has it (the trainer does), else it is learnt from the
    corpus' train split. Returns a summary: words in the table, the fit and its correlations
    on `split`."""
    from translator.inference.translator import Translator

    data = load_checkpoint(path)
    translator = Translator.from_checkpoint(path)
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    if translator.multilingual:
        summary = _calibrate_directions(translator, payload, data_dir, split, beam_size,
                                        batch_tokens, tables or {})
    else:
        src_lang, tgt_lang = translator.src_lang, translator.tgt_lang
        if table is None:
            table = CasingTable.learn(read_split(data_dir, "train", src_lang, tgt_lang).src)
        translator.casing = table
        held_out = read_split(data_dir, split, src_lang, tgt_lang)
        payload["casing"] = {"src": table.to_dict()}
        payload["confidence"] = _fit(translator, held_out, split, beam_size, batch_tokens)
        summary = {"casing_words": len(table.forms),
                   "capitalize_first": table.capitalize_first,
                   "confidence": payload["confidence"]}
    save_checkpoint(out or path, payload)
    return {"checkpoint": str(out or path), **summary}


def _fit(translator, held_out: ParallelCorpus, split: str, beam_size: int,
         batch_tokens: int) -> dict:
    """The calibration of `translator` (one direction) on `held_out`, with its correlations."""
    features, quality = [], []
    n_best = translator.translate_hypotheses(held_out.src, beam_size=beam_size,
                                             batch_tokens=batch_tokens)
    for hyps, ref in zip(n_best, held_out.tgt):
        text, hyp = hyps[0] if hyps else ("", None)
        if hyp is None:
            continue
        features.append(mean_log_prob(hyp.log_prob, len(hyp.tokens)))
        quality.append(sacrebleu.sentence_chrf(text, [ref]).score / 100)
    calibration = fit(features, quality, split, anchor=-math.log(len(translator.tgt_tok)))
    pearson, spearman = correlations(features, quality)
    return {**calibration.to_dict(), "pearson": round(pearson, 4),
            "spearman": round(spearman, 4)}


def _calibrate_directions(translator, payload: dict, data_dir: str | Path, split: str,
                          beam_size: int, batch_tokens: int,
                          tables: dict[str, CasingTable]) -> dict:
    """A multilingual checkpoint's casing tables and calibrations (the module docstring)."""
    from translator.data.multilingual import validation_sets

    directions = translator.directions
    sources = list(dict.fromkeys(d.split("-", 1)[0] for d in directions))
    tables = {lang: tables.get(lang) or CasingTable.learn(
        read_lines(find_split_file(data_dir, "train", lang))) for lang in sources}
    translator.casings = tables
    held_out = validation_sets(data_dir, directions, MULTILINGUAL_CALIBRATION_SENTENCES,
                               split=split)
    fits = {d: _fit(translator.for_pair(*d.split("-", 1)), held_out[d], split, beam_size,
                    batch_tokens) for d in directions}
    payload["casing"] = {"src": tables[sources[0]].to_dict(),
                         "langs": {lang: t.to_dict() for lang, t in tables.items()}}
    payload["confidence"] = {"directions": fits}
    return {"casing_words": {lang: len(t.forms) for lang, t in tables.items()},
            "confidence": {d: {"pearson": f["pearson"], "spearman": f["spearman"]}
                           for d, f in fits.items()}}
