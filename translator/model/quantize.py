"""int8 copies of a trained model for CPU inference (dynamic quantization)."""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from translator.model.seq2seq import Seq2Seq


def quantize_int8(model: Seq2Seq) -> Seq2Seq:
    """An int8 copy for CPU inference: dynamic quantization of every LSTM and linear layer.

    The decoder first turns its single-step LSTMs into linear maps (`for_int8`), and the tied
    output layer is untied into its own `nn.Linear`, so that both are quantized too (the output
    layer is the largest matrix product of a decoding step). Weights are int8 per tensor;
    activations are quantized on the fly. The copy is for translation only, not training.
    """
    from torch.ao.quantization import quantize_dynamic

    model = copy.deepcopy(model).eval()
    model.decoder.for_int8(model)
    if model.out_proj is None:
        weight = model.tgt_emb.weight
        model.out_proj = nn.Linear(weight.size(1), weight.size(0), bias=False)
        model.out_proj.weight = nn.Parameter(weight.detach().clone())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        return quantize_dynamic(model, {nn.LSTM, nn.LSTMCell, nn.Linear}, dtype=torch.qint8)
