"""Tests for translator.model.seq2seq and translator.model.loss: step decoding, masking, fused
loss, tying."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from translator.config import ModelConfig
from translator.data.batching import source_tensors
from translator.data.vocab import BOS_ID, EOS_ID
from translator.model.loss import fused_linear_smoothed_ce
from translator.model.seq2seq import Seq2Seq

V_SRC, V_TGT = 23, 29


def small_model(seed: int = 0, **overrides) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(**{
        "emb_dim": 16, "enc_hidden": 12, "enc_layers": 2, "dec_hidden": 20, "attn_dim": 16,
        "dropout": 0.3, "emb_dropout": 0.3, **overrides,
    })
    cfg.validate("model")
    return Seq2Seq(cfg, V_SRC, V_TGT).eval()


def random_ids(gen: torch.Generator, lengths: list[int], vocab: int) -> list[list[int]]:
    return [torch.randint(EOS_ID + 1, vocab, (n,), generator=gen).tolist() for n in lengths]


@pytest.mark.parametrize(
    "overrides",
    [
        {"decoder": "fused", "dec_layers": 1},
        {"decoder": "fused", "dec_layers": 2},
        {"decoder": "fused", "dec_layers": 3},
        {"decoder": "input_feeding", "dec_layers": 1},
        {"decoder": "fused", "dec_layers": 2, "emb_scale": True},
        {"decoder": "input_feeding", "dec_layers": 1, "emb_scale": True},
        {"decoder": "fused", "dec_layers": 1, "emb_scale": True, "emb_scale_factor": 4.0},
    ],
    ids=["fused-1", "fused-2", "fused-3", "input_feeding", "fused-2-scaled",
         "input_feeding-scaled", "fused-scaled-by-4"],
)
@pytest.mark.parametrize("gate_table", [False, True], ids=["", "gate-table"])
def test_decode_step_matches_teacher_forcing(overrides, gate_table):
    model = small_model(**overrides)
    if gate_table:
        model.prepare_inference()  # the fused decoder's first layer gathers precomputed gates
    gen = torch.Generator().manual_seed(1)
    src, src_lens = source_tensors(random_ids(gen, [7, 4, 9], V_SRC))
    tgt_in = torch.randint(EOS_ID + 1, V_TGT, (3, 6), generator=gen)
    tgt_in[:, 0] = BOS_ID
    with torch.no_grad():
        enc = model.encode(src, src_lens)
        logits, weights, _ = model.decode(tgt_in, enc)  # (B, T, V), (B, T, S)
        full_logp = torch.log_softmax(logits, dim=-1)
        state = enc.init_state
        for t in range(tgt_in.size(1)):
            logp, attn, state = model.decode_step(tgt_in[:, t], enc, state)
            torch.testing.assert_close(logp, full_logp[:, t], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(attn, weights[:, t], atol=1e-6, rtol=1e-5)
    # forward() returns the attentional vectors that `logits` maps to the same logits
    with torch.no_grad():
        vectors = model(src, src_lens, tgt_in)
    torch.testing.assert_close(model.logits(vectors), logits, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("decoder", ["fused", "input_feeding"])
def test_emb_scale_is_the_embeddings_times_sqrt_e_where_they_enter_an_lstm(decoder):
    """A scaled model computes what an unscaled one does with its first LSTM layers' input
    weights (the embedding columns) multiplied by sqrt(E); the output layer is not scaled."""
    scaled = small_model(decoder=decoder, emb_scale=True)
    plain = small_model(decoder=decoder, emb_scale=False)
    plain.load_state_dict(scaled.state_dict())
    E = scaled.cfg.emb_dim
    with torch.no_grad():
        for lstm in (plain.enc_fwd[0], plain.enc_bwd[0]):
            lstm.weight_ih_l0.mul_(E ** 0.5)
        if decoder == "fused":
            plain.dec_lstm.weight_ih_l0.mul_(E ** 0.5)
        else:
            plain.dec_cell.weight_ih[:, :E].mul_(E ** 0.5)
    gen = torch.Generator().manual_seed(2)
    src, src_lens = source_tensors(random_ids(gen, [5, 8], V_SRC))
    tgt_in = torch.randint(EOS_ID + 1, V_TGT, (2, 5), generator=gen)
    tgt_in[:, 0] = BOS_ID
    with torch.no_grad():
        want = plain.decode(tgt_in, plain.encode(src, src_lens))[0]
        got = scaled.decode(tgt_in, scaled.encode(src, src_lens))[0]
        unscaled = small_model(decoder=decoder, emb_scale=False)
        unscaled.load_state_dict(scaled.state_dict())
        other = unscaled.decode(tgt_in, unscaled.encode(src, src_lens))[0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, other, atol=1e-3)  # the flag does change the model


@pytest.mark.parametrize("decoder", ["fused", "input_feeding"])
def test_encoder_is_padding_invariant(decoder):
    """A sentence encoded alone equals its real positions in a padded batch (masked BiLSTM)."""
    model = small_model(decoder=decoder)
    gen = torch.Generator().manual_seed(2)
    short, long = random_ids(gen, [4, 11], V_SRC)
    with torch.no_grad():
        alone = model.encode(*source_tensors([short]))
        batch = model.encode(*source_tensors([long, short]))
    n = len(short) + 1  # + EOS
    assert batch.outputs.shape[1] == len(long) + 1
    torch.testing.assert_close(batch.outputs[1, :n], alone.outputs[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch.keys[1, :n], alone.keys[0], atol=1e-5, rtol=1e-5)
    assert batch.mask[1].tolist() == [True] * n + [False] * (len(long) + 1 - n)
    for s_batch, s_alone in zip(batch.init_state, alone.init_state):
        torch.testing.assert_close(s_batch[1], s_alone[0], atol=1e-5, rtol=1e-5)
    # and decoding the short sentence gives the same distributions alone and in the batch
    tgt = torch.tensor([[BOS_ID, 5, 6, 7]])
    with torch.no_grad():
        alone_logits, alone_attn, _ = model.decode(tgt, alone)
        batch_logits, batch_attn, _ = model.decode(tgt.repeat(2, 1), batch)
    torch.testing.assert_close(batch_logits[1], alone_logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch_attn[1, :, :n], alone_attn[0], atol=1e-5, rtol=1e-5)
    assert float(batch_attn[1, :, n:].abs().max()) == 0.0  # no attention on padding


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("chunk", [7, 1024])
def test_fused_loss_matches_cross_entropy(eps, chunk):
    gen = torch.Generator().manual_seed(3)
    N, A, V = 50, 16, 37
    x = torch.randn(N, A, generator=gen).requires_grad_()
    w = torch.randn(V, A, generator=gen).requires_grad_()
    b = torch.randn(V, generator=gen).requires_grad_()
    target = torch.randint(0, V, (N,), generator=gen)

    fused = fused_linear_smoothed_ce(x, w, b, target, eps=eps, chunk=chunk)
    (fused * 0.5).backward()  # a non-unit upstream gradient must scale all gradients
    fused_grads = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    ref = F.cross_entropy(x @ w.t() + b, target, label_smoothing=eps, reduction="sum")
    (ref * 0.5).backward()
    # the fused loss computes in float32 (also under autocast): float32 tolerances
    torch.testing.assert_close(fused, ref, atol=1e-3, rtol=1e-5)
    for got, t in zip(fused_grads, (x, w, b)):
        torch.testing.assert_close(got, t.grad, atol=1e-5, rtol=1e-4)


def test_fused_loss_float32_and_no_grad():
    gen = torch.Generator().manual_seed(4)
    x, w, b = torch.randn(20, 8, generator=gen), torch.randn(11, 8, generator=gen), torch.randn(11)
    target = torch.randint(0, 11, (20,), generator=gen)
    fused = fused_linear_smoothed_ce(x, w, b, target, eps=0.1)
    ref = F.cross_entropy(x @ w.t() + b, target, label_smoothing=0.1, reduction="sum")
    torch.testing.assert_close(fused, ref, atol=1e-4, rtol=1e-5)
    assert not fused.requires_grad


def test_output_layer_is_tied_to_target_embeddings():
    model = small_model()
    weight, bias = model.output_layer()
    assert weight is model.tgt_emb.weight
    assert model.out_proj is None
    assert bias is model.out_bias
    # one tensor in the parameter list, and logits really use it
    assert sum(p is model.tgt_emb.weight for p in model.parameters()) == 1
    vec = torch.randn(2, model.cfg.attn_dim)
    torch.testing.assert_close(model.logits(vec), vec @ model.tgt_emb.weight.t() + model.out_bias)
    with torch.no_grad():
        model.tgt_emb.weight[5].add_(1.0)
    torch.testing.assert_close(model.logits(vec), vec @ model.tgt_emb.weight.t() + model.out_bias)


def test_untied_output_layer_is_separate():
    model = small_model(tie_embeddings=False)
    weight, _ = model.output_layer()
    assert weight is model.out_proj.weight and weight is not model.tgt_emb.weight


def test_the_embedding_scale_factor_is_sqrt_emb_dim_unless_given():
    assert small_model(emb_scale=True).emb_scale == pytest.approx(small_model().cfg.emb_dim ** 0.5)
    assert small_model(emb_scale=True, emb_scale_factor=4.0).emb_scale == 4.0


@pytest.mark.parametrize("values", [{"emb_scale": True, "emb_scale_factor": -1.0},
                                    {"emb_scale": True, "emb_scale_factor": float("nan")},
                                    {"emb_scale": True, "emb_scale_factor": float("inf")},
                                    {"emb_scale_factor": 4.0}],  # no effect without emb_scale
                         ids=["negative", "nan", "inf", "without-emb_scale"])
def test_a_meaningless_embedding_scale_factor_is_refused(values):
    from translator.config import ConfigError, ModelConfig

    with pytest.raises(ConfigError, match="emb_scale_factor"):
        ModelConfig.from_dict(values, "model")
