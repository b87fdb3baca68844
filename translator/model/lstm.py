"""LSTM pieces the decoders share: one step of an `nn.LSTM` layer, the cell's pointwise part,
and `StepLSTM`, an LSTM as plain linear maps so that dynamic int8 quantization reaches a
decoder's recurrent matrices when it runs one step at a time.

Shapes: B = batch, D = hidden size, In = input size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class StepLSTM(nn.Module):
    """An LSTM as explicit per-layer linear maps, so that dynamic quantization reaches the
    decoder's recurrent matrices in single-step use. Built from a trained `nn.LSTM`."""

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        self.gates = nn.ModuleList()
        for layer in range(lstm.num_layers):
            w_ih = getattr(lstm, f"weight_ih_l{layer}")
            w_hh = getattr(lstm, f"weight_hh_l{layer}")
            linear = nn.Linear(w_ih.size(1) + w_hh.size(1), w_ih.size(0))  # [x; h] -> 4D gates
            with torch.no_grad():
                linear.weight.copy_(torch.cat([w_ih, w_hh], dim=1))
                linear.bias.copy_(getattr(lstm, f"bias_ih_l{layer}")
                                  + getattr(lstm, f"bias_hh_l{layer}"))
            self.gates.append(linear)

    def step(self, layer: int, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return lstm_pointwise(self.gates[layer](torch.cat([x, h], dim=-1)), c)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]):
        """nn.LSTM-compatible: x (B, T, In), state (L, B, D) each -> (B, T, D), state."""
        h, c = list(state[0].unbind(0)), list(state[1].unbind(0))
        outputs = []
        for t in range(x.size(1)):
            inp = x[:, t]
            for layer in range(len(self.gates)):
                h[layer], c[layer] = self.step(layer, inp, h[layer], c[layer])
                inp = h[layer]
            outputs.append(inp)
        return torch.stack(outputs, 1), (torch.stack(h), torch.stack(c))


def lstm_pointwise(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM cell nonlinearity: gates (B, 4D) in torch's (i, f, g, o) order, c (B, D) -> (h, c)."""
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_step(lstm: nn.Module, layer: int, x: Tensor, h: Tensor, c: Tensor):
    """One time step of layer `layer` of an LSTM: x (B, In), h and c (B, D) -> (h, c)."""
    if isinstance(lstm, StepLSTM):
        return lstm.step(layer, x, h, c)
    return torch.lstm_cell(
        x, (h, c), getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}"),
        getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}"))
