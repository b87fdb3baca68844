"""Training throughput of a preset on Multi30K, as real target tokens/s and as a fraction of the
machine's fp32 matmul peak measured in the same run.

    python benchmarks/throughput.py [--data DIR] [--preset base] [--threads 2] [--steps 30]
        [--profile]

`--profile` adds where the time goes: torch.profiler over the measured steps, the operators by
self CPU time (their share of the steps' time), and the matrix products' share. To see a CPU
without AVX-512 on one that has it, cap every library's instruction set before torch loads
(the output says what was in effect):

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python benchmarks/throughput.py --profile

FLOPs per target token are counted analytically from the model's matrix products (LSTM gates,
attention, projections, output layer; forward x 3 for forward + backward), using the measured
source/target token ratio of the training data. Only real (non-padding) target tokens count.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import time
import warnings

import torch

from translator.config import ModelConfig, load_config, preset
from translator.data.batching import token_budget_batches, training_batch
from translator.data.corpus import read_split
from translator.data.vocab import PAD_ID, train_tokenizers
from translator.defaults import MULTI30K_DIR
from translator.model.loss import fused_linear_smoothed_ce
from translator.model.seq2seq import Seq2Seq


def matmul_peak(threads: int, n: int = 2048, reps: int = 20) -> float:
    """Best-of-3 fp32 GFLOP/s of an n x n x n matmul on `threads` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_target_token(m: ModelConfig, vocab: int, src_ratio: float, src_len: float) -> float:
    """Training FLOPs (forward x 3) per target token; src_ratio = source/target tokens."""
    E, H, D, A = m.emb_dim, m.enc_hidden, m.dec_hidden, m.attn_dim
    per_src = 0.0
    for layer in range(m.enc_layers):
        inp = E if layer == 0 else 2 * H
        per_src += 2 * (2 * 4 * H * (inp + H))  # two directions
    per_src += 2 * 2 * H * D  # attention keys
    if m.decoder == "fused":
        per_tgt = 2 * 4 * D * (E + D)
        for layer in range(1, m.dec_layers):
            inp = D + 2 * H if layer == 1 else D
            per_tgt += 2 * 4 * D * (inp + D)
    else:
        per_tgt = 2 * 4 * D * (E + A + D)
    per_tgt += 2 * src_len * D + 2 * src_len * 2 * H  # scores + context
    per_tgt += 2 * (D + 2 * H) * A + 2 * A * vocab  # attentional vector + output layer
    return 3 * (src_ratio * per_src + per_tgt)


def compare_lstm_kernels(step, batches: list, rounds: int, steps: int) -> None:
    """Tokens/s of training steps with oneDNN's fused LSTM kernels (torch's default on the CPU)
    and with ATen's own LSTM (`torch.backends.mkldnn` off: the input projection as one matrix
    product, then a matrix product and pointwise ops per step), on the same batches."""
    warnings.filterwarnings("ignore", message="TF32 acceleration")  # mkldnn.flags() on a CPU
    ratios = []
    for r in range(rounds):
        block = batches[r * steps: (r + 1) * steps]
        speed = {}
        for onednn in ((True, False) if r % 2 == 0 else (False, True)):
            with torch.backends.mkldnn.flags(enabled=onednn):
                start, tokens = time.perf_counter(), sum(step(idx) for idx in block)
            speed[onednn] = tokens / (time.perf_counter() - start)
        ratios.append(speed[False] / speed[True])
        print(f"round {r + 1}: oneDNN {speed[True]:6.0f} tokens/s, ATen {speed[False]:6.0f} "
              f"tokens/s, ATen/oneDNN {ratios[-1]:.3f}", flush=True)
    print(f"median ATen/oneDNN: {sorted(ratios)[len(ratios) // 2]:.3f} over {rounds} rounds; "
          f"aten {torch.backends.cpu.get_cpu_capability()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--preset", default="base")
    p.add_argument("--config", help="YAML overrides on top of the preset")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--profile", action="store_true", help="operators by self CPU time")
    p.add_argument("--top", type=int, default=15, help="operators listed with --profile")
    p.add_argument("--lstm-kernels", type=int, metavar="ROUNDS", default=0,
                   help="compare oneDNN's LSTM kernels with ATen's own in one process: ROUNDS "
                        "rounds of --steps batches, each batch run under both (order "
                        "alternated), tokens/s of each and their ratio")
    args = p.parse_args()

    cfg = preset(args.preset)
    if args.config:
        cfg = load_config(args.config, base=cfg)
    torch.manual_seed(0)
    peak = matmul_peak(args.threads)
    train = read_split(args.data, "train", "de", "en")
    v = cfg.vocab
    src_tok, tgt_tok = train_tokenizers(train.src, train.tgt, v.size, v.model_type, v.joint)
    src_ids, tgt_ids = src_tok.encode(train.src), tgt_tok.encode(train.tgt)
    n_src = sum(len(s) + 1 for s in src_ids)
    n_tgt = sum(len(t) + 1 for t in tgt_ids)
    flops = flops_per_target_token(cfg.model, len(tgt_tok), n_src / n_tgt, n_src / len(src_ids))

    model = Seq2Seq(cfg.model, len(src_tok), len(tgt_tok)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lengths = [max(len(a), len(b)) + 1 for a, b in zip(src_ids, tgt_ids)]
    batches = token_budget_batches(lengths, cfg.train.batch_tokens, shuffle=True, seed=1)
    random.Random(0).shuffle(batches)
    torch.set_num_threads(args.threads)

    def step(idx: list[int]) -> int:
        b = training_batch([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])
        vectors = model(b["src"], b["src_lens"], b["tgt_in"])
        real = b["tgt_out"] != PAD_ID
        weight, bias = model.output_layer()
        loss = fused_linear_smoothed_ce(vectors[real], weight, bias, b["tgt_out"][real])
        opt.zero_grad(set_to_none=True)
        (loss / int(real.sum())).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return int(real.sum())

    for idx in batches[:3]:
        step(idx)
    if args.lstm_kernels:
        compare_lstm_kernels(step, batches[3:], args.lstm_kernels, args.steps)
        return
    tokens, start = 0, time.perf_counter()
    with profiled(args.profile) as prof:
        for idx in batches[3: 3 + args.steps]:
            tokens += step(idx)
    seconds = time.perf_counter() - start
    speed = tokens / seconds
    achieved = speed * flops / 1e9
    print(f"preset={args.preset} config={args.config} threads={args.threads} "
          f"vocab={len(tgt_tok)} batch_tokens={cfg.train.batch_tokens} steps={args.steps}")
    print(f"fp32 matmul peak:            {peak:8.1f} GFLOP/s")
    print(f"model FLOPs / target token:  {flops / 1e6:8.2f} MFLOP (training, fwd+bwd)")
    print(f"source/target token ratio:   {n_src / n_tgt:8.3f}")
    print(f"real target tokens/s:        {speed:8.0f}")
    print(f"achieved:                    {achieved:8.1f} GFLOP/s = {100 * achieved / peak:.1f}% "
          f"of peak")
    print(f"instruction sets:            aten {torch.backends.cpu.get_cpu_capability()}, "
          + ", ".join(f"{k}={os.environ.get(k, '-')}" for k in ISA_CAPS))
    if prof is not None:  # the profiler's own cost is in the tokens/s above
        print("(measured with the profiler on: run without --profile for the speed figure)")
        print_profile(prof, seconds, args.top)


ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
"""The variables that cap the instruction set of torch's own kernels, oneDNN and MKL."""

MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm",
                   "aten::matmul", "aten::mkldnn_rnn", "aten::mkldnn_rnn_layer",
                   "aten::mkldnn_rnn_layer_backward")
"""Operators whose time is (mostly) matrix products: the LSTMs run as oneDNN kernels."""


@contextlib.contextmanager
def profiled(enabled: bool):
    if not enabled:
        yield None
        return
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        yield prof


def print_profile(prof, seconds: float, top: int) -> None:
    """Operators by self CPU time, each as a share of the measured steps' wall time."""
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = seconds * 1e6  # microseconds
    print(f"\n{'operator':<40} {'calls':>7} {'self ms':>9} {'share':>7}")
    for e in events[:top]:
        print(f"{e.key:<40} {e.count:>7} {e.self_cpu_time_total / 1e3:>9.1f} "
              f"{100 * e.self_cpu_time_total / total:>6.1f}%")
    products = sum(e.self_cpu_time_total for e in events if e.key in MATRIX_PRODUCTS)
    print(f"matrix products and LSTM kernels: {100 * products / total:.1f}% of the steps' time")


if __name__ == "__main__":
    main()
