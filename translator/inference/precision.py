"""Whether this machine can decode in bfloat16: asked once per process and device.

bf16 decoding runs under `torch.autocast`, which on the CPU sends the encoder's `nn.LSTM` to
oneDNN's bfloat16 LSTM primitive. oneDNN has none for CPUs without AVX-512 (an AMD EPYC Zen 3,
for one), where a bf16 model would load and then fail every translation inside oneDNN. So a
bf16 `Translator` is refused at load, in one line that says what to use instead, where this
check says no. On CUDA, autocast refuses bf16 below compute capability 8.0 (Ampere).

The check runs where decoding happens (the `translate` command, each worker process), never in
the web, which may run on another machine. `PRECISION=auto` never picks bf16 (worker/settings.py).

Not offered: the LSTMs in fp32 and the rest under bf16 autocast. It runs where oneDNN has no
bf16 LSTM, but the bf16 matrix products then fall to ATen's generic kernels: with oneDNN, ATen
and MKL held to AVX2 (as on a Zen 3), the base model decoded at 0.40x fp32's speed at beam 5 and
0.54x greedy, where int8 gave 2.0x and 1.9x (benchmarks/bf16_lstm.py, RESULTS.md). int8 is
the fast mode of such CPUs.
"""

from __future__ import annotations

import functools
import os
import platform

import torch
from torch import nn

from translator.errors import CheckpointError

SIMULATE_NO_BF16 = "TRANSLATOR_SIMULATE_NO_BF16"
"""Test and diagnostic override: set to 1 and the CPU check answers "unsupported" on any machine
(the test suite runs on machines with bf16 and needs the other branch; a worker it starts
inherits the variable). Never set it in production: the refusal then names it."""

CPU_NEEDS = "AVX-512 or AMX" if platform.machine() in ("x86_64", "AMD64") else "bf16 instructions"
CPU_REFUSAL = (f"bf16 is not supported on this CPU (oneDNN has no bfloat16 LSTM kernel for "
               f"it: needs {CPU_NEEDS}); use int8 (or fp32)")


class PrecisionError(CheckpointError):
    """The precision asked for cannot run on this machine; the message is one line with the
    reason and what to use instead. A CheckpointError, because it is handled like one: a
    one-line error of the command, a failed job, and a pair the worker reports unavailable."""


def require_bf16(device: str | torch.device) -> None:
    """Raise PrecisionError unless bf16 decoding can run on `device`."""
    reason = bf16_unsupported_reason(str(torch.device(device)))
    if reason:
        raise PrecisionError(reason)


@functools.cache
def bf16_unsupported_reason(device: str) -> str | None:
    """Why bf16 decoding cannot run on `device` ("cpu", "cuda", "cuda:1"), or None if it can.
    Cached: the CPU probe runs a small LSTM once per process."""
    if torch.device(device).type == "cuda":
        return cuda_refusal(device)
    if os.environ.get(SIMULATE_NO_BF16, "") not in ("", "0"):
        return f"{CPU_REFUSAL} [simulated: {SIMULATE_NO_BF16} is set]"
    return None if cpu_runs_bf16() else CPU_REFUSAL


def cuda_refusal(device: str) -> str | None:
    """None on a GPU of compute capability 8.0 or newer (or without CUDA: loading the model
    then fails with torch's own one-line CUDA error)."""
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(device)
    if major >= 8:
        return None
    return (f"bf16 is not supported on this GPU ({torch.cuda.get_device_name(device)}, compute "
            f"capability {major}.{minor}; bf16 needs 8.0 or newer); use fp32")


def cpu_runs_bf16() -> bool:
    """oneDNN's own answer, then a tiny LSTM and linear layer under bf16 autocast: the kernels
    decoding needs (the flag alone is not enough: the LSTM primitive can still be missing)."""
    if torch.backends.mkldnn.is_available() and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    lstm, linear = nn.LSTM(8, 8, batch_first=True).eval(), nn.Linear(8, 8).eval()
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            linear(lstm(torch.zeros(1, 3, 8))[0])
    except RuntimeError:  # "could not create a primitive descriptor for the LSTM ..."
        return False
    return True
