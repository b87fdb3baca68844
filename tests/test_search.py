"""Tests for translator.inference.search: greedy and beam search, on a random model and a trained
one."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import SRC, TGT

from translator.config import ModelConfig
from translator.data.batching import source_tensors
from translator.data.corpus import read_split
from translator.data.vocab import BOS_ID, EOS_ID
from translator.inference.search import (
    SearchConfig,
    beam_search,
    greedy_search,
    length_limits,
    length_penalty,
    search,
)
from translator.model.seq2seq import Seq2Seq


def random_model(decoder: str = "fused", dec_layers: int = 1) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = ModelConfig(emb_dim=16, enc_hidden=12, enc_layers=1, dec_hidden=24, attn_dim=16,
                      dec_layers=dec_layers, decoder=decoder, dropout=0.2, emb_dropout=0.2)
    return Seq2Seq(cfg, 30, 40).eval()


def random_batch(lengths=(5, 2, 9, 1, 6, 3), seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    ids = [torch.randint(EOS_ID + 1, 30, (n,), generator=gen).tolist() for n in lengths]
    return source_tensors(ids)


@pytest.fixture(scope="module", params=["random-fused", "random-fused2", "random-feeding",
                                        "trained"])
def model_and_batch(request):
    """(model, src, src_lens) for a random model of each decoder and for the trained model."""
    if request.param == "random-fused":
        return random_model(), *random_batch()
    if request.param == "random-fused2":
        return random_model(dec_layers=2), *random_batch()
    if request.param == "random-feeding":
        return random_model("input_feeding"), *random_batch()
    translator = request.getfixturevalue("trained_translator")
    data_dir = request.getfixturevalue("reverse_corpus")
    test = read_split(data_dir, "test_2016_flickr", SRC, TGT)
    src, src_lens = source_tensors(translator.src_tok.encode(test.src[:12]))
    return translator.model, src, src_lens


def rescore(model, src, src_lens, i: int, tokens: list[int]) -> tuple[float, torch.Tensor]:
    """Teacher-forced log-probability of tokens + EOS for sentence i, and its attention."""
    n = int(src_lens[i])
    with torch.no_grad():
        enc = model.encode(src[i: i + 1, :n], src_lens[i: i + 1])
        logits, attn, _ = model.decode(torch.tensor([[BOS_ID] + tokens]), enc)
        logp = torch.log_softmax(logits[0].float(), dim=-1)
    gold = torch.tensor(tokens + [EOS_ID])
    return float(logp.gather(1, gold.unsqueeze(1)).sum()), attn[0]


def test_beam_one_equals_greedy(model_and_batch):
    model, src, src_lens = model_and_batch
    cfg = SearchConfig(max_len_ratio=1.5, max_len_extra=5)
    greedy = greedy_search(model, src, src_lens, cfg)
    forced = beam_search(model, src, src_lens,
                         SearchConfig(beam_size=1, max_len_ratio=1.5, max_len_extra=5))
    assert [h[0].tokens for h in forced] == [h[0].tokens for h in greedy]
    for f, g in zip(forced, greedy):
        assert f[0].log_prob == pytest.approx(g[0].log_prob, abs=1e-4)


@pytest.mark.parametrize(("beam", "n_best"), [(5, 5), (5, 3), (3, 1)])
def test_n_best_sorted_and_complete(model_and_batch, beam, n_best):
    model, src, src_lens = model_and_batch
    cfg = SearchConfig(beam_size=beam, n_best=n_best)
    results = beam_search(model, src, src_lens, cfg)
    assert len(results) == src.size(0)
    for hyps in results:
        assert len(hyps) == n_best
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert all(math.isfinite(s) for s in scores)
        for h in hyps:  # the ranking score is the length-normalised log-probability
            expected = h.log_prob / length_penalty(len(h.tokens) + 1, cfg.alpha)
            assert h.score == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_n_best_larger_than_beam_rejected():
    model = random_model()
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, *random_batch(), SearchConfig(beam_size=2, n_best=3))


@pytest.mark.parametrize("beam", [1, 5])
def test_batched_equals_one_by_one(model_and_batch, beam):
    model, src, src_lens = model_and_batch
    cfg = SearchConfig(beam_size=beam, n_best=beam)
    batched = search(model, src, src_lens, cfg)
    for i in range(src.size(0)):
        n = int(src_lens[i])
        alone = search(model, src[i: i + 1, :n], src_lens[i: i + 1], cfg)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[i]], f"sentence {i}"
        for a, b in zip(alone, batched[i]):
            assert a.log_prob == pytest.approx(b.log_prob, abs=1e-4)


@pytest.mark.parametrize("beam", [1, 5])
@pytest.mark.parametrize(("ratio", "extra"), [(1.5, 10), (1.0, 1), (0.0, 1), (0.0, 3), (0.5, 2)])
def test_hypotheses_end_with_eos_or_at_limit(model_and_batch, beam, ratio, extra):
    model, src, src_lens = model_and_batch
    cfg = SearchConfig(beam_size=beam, n_best=1, max_len_ratio=ratio, max_len_extra=extra)
    limits = length_limits(src_lens, cfg).tolist()
    for i, hyps in enumerate(search(model, src, src_lens, cfg)):
        assert hyps, f"sentence {i} has no hypothesis"
        for h in hyps:
            assert len(h.tokens) + 1 <= limits[i]
            assert EOS_ID not in h.tokens and BOS_ID not in h.tokens
            assert math.isfinite(h.log_prob)
            # log_prob is exactly the model's log-probability of tokens + EOS: every
            # hypothesis ended with an EOS step (forced only at the length limit)
            expected, _ = rescore(model, src, src_lens, i, h.tokens)
            assert h.log_prob == pytest.approx(expected, abs=1e-4)
        if limits[i] == 1:
            assert hyps[0].tokens == []


def test_trained_model_stops_before_the_limit(trained_translator, reverse_corpus):
    """A model that learned the task ends with EOS on its own, well before the length limit."""
    test = read_split(reverse_corpus, "test_2016_flickr", SRC, TGT)
    src_tok, model = trained_translator.src_tok, trained_translator.model
    src, src_lens = source_tensors(src_tok.encode(test.src[:20]))
    cfg = SearchConfig(beam_size=5, max_len_ratio=3.0, max_len_extra=10)
    limits = length_limits(src_lens, cfg).tolist()
    for i, hyps in enumerate(search(model, src, src_lens, cfg)):
        assert len(hyps[0].tokens) + 1 < limits[i]


@pytest.mark.parametrize("beam", [1, 5])
def test_return_attention(model_and_batch, beam):
    model, src, src_lens = model_and_batch
    cfg = SearchConfig(beam_size=beam, n_best=min(beam, 2), return_attention=True)
    S = src.size(1)
    for i, hyps in enumerate(search(model, src, src_lens, cfg)):
        for h in hyps:
            assert h.attention is not None
            assert h.attention.shape == (len(h.tokens) + 1, S)
            torch.testing.assert_close(h.attention.sum(-1), torch.ones(len(h.tokens) + 1))
            n = int(src_lens[i])
            assert bool((h.attention[:, n:] == 0).all())  # no attention on padding
            _, expected = rescore(model, src, src_lens, i, h.tokens)
            torch.testing.assert_close(h.attention[:, :n], expected, atol=1e-5, rtol=1e-4)
    no_attn = search(model, src, src_lens, SearchConfig(beam_size=beam))
    assert all(h.attention is None for hyps in no_attn for h in hyps)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("n_best", [1, 3])
def test_exact_early_stop_leaves_n_best_unchanged(model_and_batch, monkeypatch, alpha, n_best):
    """Stopping a sentence once no alive beam can beat its n-th finished hypothesis gives the
    same n-best lists as running on until K hypotheses have finished."""
    import translator.inference.search as search_module

    model, src, src_lens = model_and_batch
    cfg = SearchConfig(beam_size=4, n_best=n_best, alpha=alpha)
    early = beam_search(model, src, src_lens, cfg)
    monkeypatch.setattr(search_module, "_settled",
                        lambda best_alive, *rest: torch.zeros_like(best_alive, dtype=torch.bool))
    full = beam_search(model, src, src_lens, cfg)
    for a, b in zip(early, full):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)
