"""What a checkpoint learns after training, from its corpus: the casing table of its training
source (translator/data/casing.py) and the confidence calibration on its validation set
(translator/inference/confidence.py). `translator train` runs it on `best.pt` at the end;
`translator calibrate` runs it on any checkpoint, e.g. one trained before these existed."""

from __future__ import annotations

import math
from pathlib import Path

import sacrebleu

from translator.checkpoint import load_checkpoint, save_checkpoint
from translator.data.casing import CasingTable
from translator.data.corpus import read_split
from translator.defaults import BATCH_TOKENS, BEAM_SIZE
from translator.evaluation.sentences import correlations
from translator.inference.confidence import fit, mean_log_prob


def calibrate_checkpoint(path: str | Path, data_dir: str | Path, split: str = "val",
                         beam_size: int = BEAM_SIZE, batch_tokens: int = BATCH_TOKENS,
                         out: str | Path | None = None, table: CasingTable | None = None
                         ) -> dict:
    """Add `casing` and `confidence` to the checkpoint at `path` (written to `out`, default in
    place, atomically). `table` is the casing table if the caller has it (the trainer does),
    else it is learnt from the corpus' train split. Returns a summary: words in the table,
    the fit and its correlations on `split`."""
    from translator.inference.translator import Translator

    data = load_checkpoint(path)
    meta = data.get("meta", {})
    src_lang, tgt_lang = meta.get("src_lang"), meta.get("tgt_lang")
    if table is None:
        table = CasingTable.learn(read_split(data_dir, "train", src_lang, tgt_lang).src)
    translator = Translator.from_checkpoint(path)
    translator.casing = table
    held_out = read_split(data_dir, split, src_lang, tgt_lang)
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
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    payload["casing"] = {"src": table.to_dict()}
    payload["confidence"] = {**calibration.to_dict(), "pearson": round(pearson, 4),
                             "spearman": round(spearman, 4)}
    save_checkpoint(out or path, payload)
    return {"checkpoint": str(out or path), "casing_words": len(table.forms),
            "capitalize_first": table.capitalize_first, "confidence": payload["confidence"]}
