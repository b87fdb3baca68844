"""Decoding precisions on this CPU, and whether "bf16 with the LSTMs in fp32" is worth offering
where oneDNN has no bf16 LSTM (issue 27): fp32, int8, bf16 (where this CPU runs it) and bf16
autocast with every nn.LSTM forced to fp32, in interleaved rounds on one thread; each arm's
speed is the median of its same-round ratios to fp32.

    python benchmarks/bf16_lstm.py --checkpoint runs/quick/best.pt [--beam 5] [--rounds 5]
    # as on a CPU without AVX-512 (a Zen 3): oneDNN, ATen and MKL held to AVX2
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/bf16_lstm.py --checkpoint runs/quick/best.pt
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BEAM_SIZE, MULTI30K_DIR, TEST_SPLIT
from translator.inference import precision


def lstms_in_fp32(translator: Translator) -> Translator:
    """Every nn.LSTM of the model runs outside autocast, in fp32."""
    for module in translator.model.modules():
        if isinstance(module, nn.LSTM):
            inner = module.forward

            def forward(x, *args, _inner=inner):
                with torch.autocast("cpu", enabled=False):
                    return _inner(x.float(), *args)
            module.forward = forward
    return translator


def arms(checkpoint: str) -> dict[str, Translator]:
    out = {"fp32": Translator.from_checkpoint(checkpoint),
           "int8": Translator.from_checkpoint(checkpoint, int8=True)}
    if precision.bf16_unsupported_reason("cpu") is None:
        out["bf16"] = Translator.from_checkpoint(checkpoint, bf16=True)
    # The mixed arm runs where the check refuses bf16: let it load.
    precision.cpu_runs_bf16 = lambda: True
    precision.bf16_unsupported_reason.cache_clear()
    out["bf16+fp32 LSTMs"] = lstms_in_fp32(Translator.from_checkpoint(checkpoint, bf16=True))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--sentences", type=int, default=200)
    p.add_argument("--beam", type=int, default=BEAM_SIZE)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(1)
    src = read_split(args.data, TEST_SPLIT, "de", "en").src[: args.sentences]
    translators = arms(args.checkpoint)
    outs = {name: t.translate(src[:20], beam_size=args.beam) for name, t in translators.items()}
    times: dict[str, list[float]] = {name: [] for name in translators}
    for r in range(args.rounds):
        order = list(translators.items())
        for name, t in (order if r % 2 == 0 else reversed(order)):
            start = time.perf_counter()
            outs[name] = t.translate(src, beam_size=args.beam)
            times[name].append(time.perf_counter() - start)
    results = {}
    for name, seconds in times.items():
        ratios = [fp32 / s for fp32, s in zip(times["fp32"], seconds)]
        results[name] = {
            "sent_per_s": round(len(src) / statistics.median(seconds), 1),
            "speed_vs_fp32": round(statistics.median(ratios), 2),
            "range": [round(min(ratios), 2), round(max(ratios), 2)],
            "same_as_fp32": sum(a == b for a, b in zip(outs["fp32"], outs[name])) / len(src)}
        print(f"{name:<16} {results[name]}", flush=True)
    figures = {"beam": args.beam, "sentences": len(src), "rounds": args.rounds,
               "torch": torch.__version__,
               "cpu_capability": torch.backends.cpu.get_cpu_capability(), "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
