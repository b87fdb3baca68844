"""Subword regularisation (translator/data/sampling.py): batches re-segmented by sampling keep
every sentence's text, its control symbols in place and the run's resumability; the cached
corpus is the same with or without it."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from helpers import SRC, TGT, tiny_config

from translator.config import ConfigError
from translator.data.compact import CompactCorpus
from translator.data.prepare import prepare
from translator.data.sampling import SampledSegmentation
from translator.data.vocab import EOS_ID, PAD_ID, UNK_ID
from translator.training.trainer import Trainer


@pytest.fixture(scope="module")
def prepared(reverse_corpus, tmp_path_factory):
    cfg = tiny_config().override("vocab", symbols=["<bt>", "<2yy>"])
    return prepare(cfg, reverse_corpus, SRC, TGT, cache_dir=tmp_path_factory.mktemp("cache"),
                   processes=1, progress=False)


def sentences(batch: dict, key: str, strip_first: bool = False) -> list[list[int]]:
    """A batch tensor's rows without padding, EOS and (for tgt_in) the BOS."""
    rows = []
    for row in batch[key].tolist():
        ids = [i for i in row if i not in (PAD_ID, EOS_ID)]
        rows.append(ids[1:] if strip_first else ids)
    return rows


def test_a_sampled_batch_keeps_every_sentence_and_varies_its_pieces(prepared):
    corpus, src_tok, tgt_tok = prepared.corpus, prepared.src_tok, prepared.tgt_tok
    idx = np.arange(64)
    cached = corpus.batch(idx)
    sampled = SampledSegmentation(corpus, src_tok, tgt_tok, alpha=0.1, max_len=100)
    first = sampled.batch(idx, (1, 0, 0, 0, 0))
    for key, tok in (("src", src_tok), ("tgt_out", tgt_tok)):
        before, after = sentences(cached, key), sentences(first, key)
        assert tok.decode(after) == tok.decode(before)  # the same text, other pieces
        assert after != before
    # the target's input is BOS + the same sample as its output
    assert sentences(first, "tgt_in", strip_first=True) == sentences(first, "tgt_out")
    assert (first["src_lens"] == (first["src"] != PAD_ID).sum(1)).all()
    # the same place in the run draws the same samples; another place others
    again = sampled.batch(idx, (1, 0, 0, 0, 0))
    assert all((again[k] == first[k]).all() for k in first)
    other = sampled.batch(idx, (1, 0, 1, 0, 0))
    assert sentences(other, "src") != sentences(first, "src")


def test_control_symbols_stay_in_place_and_unknown_pieces_keep_their_segmentation(prepared):
    src_tok, tgt_tok = prepared.src_tok, prepared.tgt_tok
    tag, lang = (src_tok.sp.piece_to_id(p) for p in ("<bt>", "<2yy>"))
    text = "red blue cat dog sun moon tree fish"
    body = src_tok.encode([text])[0]
    # the unknown piece's row first: a sample spent on it would shift every row after it
    seqs = [[*body, UNK_ID, *body], [], [tag], [tag, *body, lang], [tag, *body], [*body, lang]]
    corpus = compact([(s, body) for s in seqs])
    sampled = SampledSegmentation(corpus, src_tok, tgt_tok, alpha=0.1, max_len=100)
    drawn = set()
    for seed in range(20):  # enough draws for the sampled runs to differ from the cached
        rows = sentences(sampled.batch(np.arange(len(seqs)), (seed,)), "src")
        assert rows[:3] == seqs[:3]  # an unknown piece, nothing, a tag alone: as cached
        both, tagged, ending = rows[3:]
        assert both[0] == tag and both[-1] == lang
        assert tagged[0] == tag and ending[-1] == lang
        assert src_tok.decode([both[1:-1], tagged[1:], ending[:-1]]) == [text] * 3
        assert tag not in both[1:] + tagged[1:] + ending and lang not in both[:-1] + ending[:-1]
        drawn.add(tuple(tagged))
    assert len(drawn) > 1
    # a sample longer than data.max_len is not taken
    short = SampledSegmentation(corpus, src_tok, tgt_tok, alpha=0.1, max_len=len(body) + 1)
    assert sentences(short.batch(np.arange(4, 5), (0,)), "src") == [seqs[4]]


def test_the_two_sides_are_sampled_with_their_own_draws(prepared):
    """A sentence on both sides (a name, a number copied through) is not segmented alike by
    the same draws: sources and targets differ in some pair of a batch."""
    tok = prepared.src_tok
    texts = ["red blue cat dog sun moon tree fish", "star rock bird fish moon sun"] * 8
    ids = tok.encode(texts)
    sampled = SampledSegmentation(compact(list(zip(ids, ids))), tok, tok, alpha=0.1,
                                  max_len=100)
    batch = sampled.batch(np.arange(len(ids)), (3,))
    src, tgt = sentences(batch, "src"), sentences(batch, "tgt_out")
    assert tok.decode(src) == tok.decode(tgt) == texts
    assert src != tgt


def compact(pairs: list[tuple[list[int], list[int]]]) -> CompactCorpus:
    def side(seqs):
        return (np.array([i for s in seqs for i in s], dtype=np.uint16),
                np.cumsum([0, *map(len, seqs)]).astype(np.int64))

    return CompactCorpus(*side([s for s, _ in pairs]), *side([t for _, t in pairs]))


def test_the_cached_corpus_does_not_depend_on_sampling(reverse_corpus, tmp_path):
    entries = {prepare(tiny_config().override("data", subword_alpha=alpha), reverse_corpus,
                       SRC, TGT, cache_dir=tmp_path, processes=1, progress=False).directory
               for alpha in (0.0, 0.3)}
    assert len(entries) == 1


def test_subword_alpha_outside_0_to_1_is_refused():
    with pytest.raises(ConfigError, match="subword_alpha must be between 0"):
        tiny_config().override("data", subword_alpha=1.5)


def test_a_run_with_sampling_learns_and_resumes_exactly(reverse_corpus, tmp_path):
    """Losses of an interrupted and resumed run equal the uninterrupted run's (each batch's
    samples are seeded by its place in the run: epoch, update, accumulation step), over
    several epochs of two accumulated batches an update, and differ from a run without
    sampling; the loss falls."""
    def config(alpha: float):
        return tiny_config(max_steps=12, log_every=1, eval_every=6, save_every=6,
                           batch_tokens=2000, accum_steps=2).override(
            "data", subword_alpha=alpha)

    def run(alpha: float, out, interrupt_at: int = 0) -> tuple[dict[int, float], int]:
        losses: dict[int, float] = {}

        def step(at: int, loss: float) -> None:
            losses[at] = loss
            if at == interrupt_at - 1:
                os.kill(os.getpid(), signal.SIGINT)

        trainer = Trainer(config(alpha), reverse_corpus, SRC, TGT, out, progress=False,
                          on_step=step)
        trainer.run()
        if interrupt_at:
            trainer = Trainer(config(alpha), reverse_corpus, SRC, TGT, out, resume=True,
                              progress=False, on_step=step)
            trainer.run()
        return losses, trainer.state.epoch

    whole, epochs = run(0.2, tmp_path / "whole")
    assert sorted(whole) == list(range(1, 13)) and epochs >= 2
    assert whole[12] < whole[1]
    assert run(0.2, tmp_path / "resumed", interrupt_at=8)[0] == whole
    assert run(0.0, tmp_path / "plain")[0] != whole
