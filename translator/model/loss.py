"""Label-smoothed cross-entropy fused with the output projection.

The logits of a batch (N target tokens x V vocabulary) are the largest tensor in training; on a
CPU, passes over them are bound by memory bandwidth. This function processes the output layer in
row chunks small enough to stay in cache and computes the gradients in the same pass, so the full
(N, V) logit matrix never exists. It gives the same loss and gradients as
`F.cross_entropy(x @ W.T + b, target, label_smoothing=eps, reduction="sum")`.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _FusedLinearSmoothedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, target: Tensor, eps: float,
                chunk: int) -> Tensor:
        """x (N, A), weight (V, A), bias (V,), target (N,) -> summed loss (scalar)."""
        V = weight.size(0)
        need_grad = any(ctx.needs_input_grad[:3])
        total = x.new_zeros((), dtype=torch.float32)
        grad_x = torch.empty_like(x) if need_grad else None
        grad_w = torch.zeros_like(weight) if need_grad else None
        grad_b = torch.zeros_like(bias) if need_grad else None
        for start in range(0, x.size(0), chunk):
            xc, tc = x[start: start + chunk], target[start: start + chunk].unsqueeze(1)
            z = torch.addmm(bias, xc, weight.t()).float()  # (n, V) logits, cache-sized
            lse = torch.logsumexp(z, dim=1, keepdim=True)  # (n, 1)
            # -log q . log p with q = (1 - eps) onehot + eps / V
            loss = lse[:, 0] - (1 - eps) * z.gather(1, tc)[:, 0] - eps * z.mean(dim=1)
            total += loss.sum()
            if need_grad:
                z.sub_(lse).exp_().sub_(eps / V)  # softmax - eps / V
                z.scatter_add_(1, tc, z.new_full(tc.shape, -(1 - eps)))  # - (1 - eps) onehot
                z = z.to(x.dtype)
                grad_x[start: start + chunk] = z @ weight
                grad_w.addmm_(z.t(), xc)
                grad_b += z.sum(0)
        if need_grad:
            ctx.save_for_backward(grad_x, grad_w, grad_b)
        return total

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        grad_x, grad_w, grad_b = ctx.saved_tensors
        return grad_x * grad_out, grad_w * grad_out, grad_b * grad_out, None, None, None


def fused_linear_smoothed_ce(x: Tensor, weight: Tensor, bias: Tensor, target: Tensor,
                             eps: float = 0.1, chunk: int = 1024) -> Tensor:
    """Summed label-smoothed cross-entropy of logits x @ weight.T + bias against target."""
    if x.is_cuda:  # autocast would feed half-precision inputs: compute in fp32
        x, weight, bias = x.float(), weight.float(), bias.float()
    return _FusedLinearSmoothedCE.apply(x, weight, bias, target, eps, chunk)
