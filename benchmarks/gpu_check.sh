#!/usr/bin/env bash
# A short CUDA check (no GPU in CI): train the base preset with AMP for a few minutes on the GPU,
# then decode test_2016_flickr on the GPU in fp32 and bf16, greedy and beam 5; last, the same
# training for 200 updates under torchrun (one rank, NCCL) with its tokens/s against the plain
# run's.
#   bash benchmarks/gpu_check.sh [MINUTES] [DATA_DIR] [OUT_DIR]
set -euo pipefail
MINUTES=${1:-3}
DATA=${2:-data/multi30k}
OUT=${3:-runs/gpu}
export PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 -m translator train --data "$DATA" --src de --tgt en --out "$OUT" --preset base \
    --device cuda --max-minutes "$MINUTES" 2>&1 | tr "\r" "\n" | tail -n 40
python3 - "$OUT/best.pt" "$DATA" <<'PY'
import sys, time
import sacrebleu, torch
from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BATCH_TOKENS, BEAM_SIZE, TEST_SPLIT
ckpt, data = sys.argv[1], sys.argv[2]
test = read_split(data, TEST_SPLIT, "de", "en")
for bf16 in (False, True):
    tr = Translator.from_checkpoint(ckpt, device="cuda", bf16=bf16)
    tr.translate(test.src[:100], beam_size=BEAM_SIZE)
    for beam in (1, BEAM_SIZE):
        for batch_tokens in (BATCH_TOKENS, 32000):
            torch.cuda.synchronize(); t = time.perf_counter()
            out = tr.translate(test.src, beam_size=beam, batch_tokens=batch_tokens)
            torch.cuda.synchronize(); dt = time.perf_counter() - t
            bleu = sacrebleu.corpus_bleu(out, [test.tgt]).score
            print(f"{'bf16' if bf16 else 'fp32'} beam {beam} batch_tokens {batch_tokens}: "
                  f"{len(out) / dt:.0f} sent/s, BLEU {bleu:.2f}", flush=True)
PY
# DDP on the GPU: one NCCL rank under torchrun, 200 updates; tokens/s of both runs' logs
python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m translator train --data "$DATA" --src de --tgt en \
    --out "$OUT-ddp" --preset base --device cuda --max-steps 200 --no-test -q 2>&1 | tail -n 5
python3 - "$OUT" "$OUT-ddp" <<'PY'
import json, statistics, sys
for run in sys.argv[1:]:
    records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
    speeds = [r["tokens_per_s"] for r in records if r["type"] == "train" and r["step"] > 50]
    ranks = next(r.get("ranks", 1) for r in records if r["type"] == "start")
    print(f"{run}: {ranks} rank(s), median {statistics.median(speeds):,.0f} tokens/s")
PY
