"""How close the LSTM kernels of training come to the CPU's matrix-product peak, at the shapes
training gives them, and whether another LSTM implementation would do better.

    python benchmarks/lstm_kernels.py [--threads 2] [--repeats 6] [--json FILE]

For each layer shape of the base preset (encoder layers 1 and 2 per direction, the decoder's
LSTM) and each batch shape of 3,000-token batches (many short sentences to few long ones), one
forward and backward pass (best of `--repeats`), as GFLOP/s and as a share of the fp32 matmul
peak measured in the same run, for three implementations:

- `onednn`: `nn.LSTM` as torch runs it on the CPU (oneDNN's fused LSTM kernels);
- `aten`:   `nn.LSTM` with `torch.backends.mkldnn` off (ATen's own LSTM: the input projection
            as one matrix product, then a matrix product and pointwise ops per step, the
            backward by autograd step by step);
- `manual`: a hand-written LSTM whose backward computes the weight and input gradients as
            three whole-sequence matrix products after the recurrent loop (`ManualLSTM`).

FLOPs are the gates' matrix products, 2 * B * T * 4H * (In + H) forward, x 3 with backward.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch
from torch import Tensor, nn

try:
    from benchmarks.throughput import matmul_peak
except ImportError:  # run as a script from benchmarks/
    from throughput import matmul_peak

LAYERS = {"encoder layer 1": (256, 256), "encoder layer 2": (512, 256), "decoder": (256, 512)}
"""In (input size), H (hidden size) of the base preset's LSTMs."""
BATCHES = [(600, 5), (230, 13), (100, 30), (60, 50)]
"""(sentences, steps) of about 3,000 tokens: the batch shapes of a token-budget batcher."""


class ManualLSTM(torch.autograd.Function):
    """One LSTM layer, gates in nn.LSTM's order (i, f, g, o): the recurrence step by step, the
    weight and input gradients afterwards as whole-sequence matrix products."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor) -> Tensor:
        B, T, _ = x.shape  # x (B, T, In)
        H = w_hh.shape[1]
        pre = torch.addmm(bias, x.reshape(B * T, -1), w_ih.t()).view(B, T, 4 * H)
        acts = x.new_empty(T, B, 4 * H)  # activated gates
        cs, hs = x.new_zeros(T + 1, B, H), x.new_zeros(T + 1, B, H)
        for t in range(T):
            gates = torch.addmm(pre[:, t], hs[t], w_hh.t()).view(B, 4, H)
            a = acts[t].view(B, 4, H)
            torch.sigmoid(gates[:, :2], out=a[:, :2])
            torch.tanh(gates[:, 2], out=a[:, 2])
            torch.sigmoid(gates[:, 3], out=a[:, 3])
            cs[t + 1] = torch.addcmul(a[:, 1] * cs[t], a[:, 0], a[:, 2])
            torch.mul(a[:, 3], torch.tanh(cs[t + 1]), out=hs[t + 1])
        ctx.save_for_backward(x, acts, cs, hs, w_ih, w_hh)
        return hs[1:].transpose(0, 1)  # (B, T, H)

    @staticmethod
    def backward(ctx, dout: Tensor):
        x, acts, cs, hs, w_ih, w_hh = ctx.saved_tensors
        T, B, H4 = acts.shape
        H = H4 // 4
        d_gates = x.new_empty(T, B, H4)
        dh, dc = x.new_zeros(B, H), x.new_zeros(B, H)
        dout = dout.transpose(0, 1)  # (T, B, H)
        for t in range(T - 1, -1, -1):
            dh = dh + dout[t]
            a = acts[t].view(B, 4, H)
            i, f, g, o = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
            tanh_c = torch.tanh(cs[t + 1])
            dc = dc + dh * o * (1 - tanh_c * tanh_c)
            d = d_gates[t].view(B, 4, H)
            torch.mul(dc * g, i * (1 - i), out=d[:, 0])
            torch.mul(dc * cs[t], f * (1 - f), out=d[:, 1])
            torch.mul(dc * i, 1 - g * g, out=d[:, 2])
            torch.mul(dh * tanh_c, o * (1 - o), out=d[:, 3])
            dc = dc * f
            dh = torch.mm(d_gates[t], w_hh)
        flat = d_gates.transpose(0, 1).reshape(-1, H4)  # (B*T, 4H)
        h_prev = hs[:-1].transpose(0, 1).reshape(-1, H)
        dx = (flat @ w_ih).view_as(x)
        return dx, flat.t() @ x.reshape(-1, x.shape[-1]), flat.t() @ h_prev, flat.sum(0)


def manual(lstm: nn.LSTM, x: Tensor) -> Tensor:
    return ManualLSTM.apply(x, lstm.weight_ih_l0, lstm.weight_hh_l0,
                            lstm.bias_ih_l0 + lstm.bias_hh_l0)


def check_manual() -> float:
    """Largest difference of outputs and gradients against nn.LSTM, in float64."""
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 3, batch_first=True).double()
    x = torch.randn(2, 4, 5, dtype=torch.double, requires_grad=True)
    grads = []
    for out in (manual(lstm, x), lstm(x)[0]):
        grads.append([out, *torch.autograd.grad(out.sin().sum(), [x, *lstm.parameters()])])
    a, b = grads
    return max(float((p - q).detach().abs().max()) for p, q in zip(a[:3], b[:3]))


def seconds(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run().sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=6)
    p.add_argument("--json")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message="TF32 acceleration")  # mkldnn.flags() on a CPU
    print(f"manual LSTM against nn.LSTM (float64): largest difference {check_manual():.1e}")
    peak = matmul_peak(args.threads)
    torch.set_num_threads(args.threads)
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s; aten "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.threads} threads")
    print(f"{'layer':16} {'B x T':>9} {'onednn':>14} {'aten':>14} {'manual':>14}")
    rows = []
    for layer, (inp, hidden) in LAYERS.items():
        for batch, steps in BATCHES:
            torch.manual_seed(0)
            lstm = nn.LSTM(inp, hidden, batch_first=True)
            x = torch.randn(batch, steps, inp, requires_grad=True)
            flops = 3 * 2 * batch * steps * 4 * hidden * (inp + hidden)
            speed = {}
            for name in ("onednn", "aten", "manual"):
                def run(name=name, lstm=lstm, x=x):
                    return manual(lstm, x) if name == "manual" else lstm(x)[0]
                with torch.backends.mkldnn.flags(enabled=name == "onednn"):
                    speed[name] = flops / seconds(run, args.repeats) / 1e9
            rows.append({"layer": layer, "batch": batch, "steps": steps, "gflops": speed})
            print(f"{layer:16} {batch:>4} x {steps:<3} " + " ".join(
                f"{speed[n]:6.0f} ({100 * speed[n] / peak:3.0f}%)" for n in speed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak_gflops": peak, "threads": args.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
