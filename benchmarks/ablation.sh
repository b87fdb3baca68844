#!/usr/bin/env bash
# Design ablation: trains De->En Multi30K variants for the same wall-clock budget, two at a time
# with one thread each (so both runs of a pair see the same machine), and prints validation BLEU
# (greedy) and training throughput per variant. Usage:
#   bash benchmarks/ablation.sh MINUTES VARIANT [VARIANT ...]   (variants: benchmarks/configs/*.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=$1; shift
out=${ABLATION_DIR:-runs/ablation}
mkdir -p "$out"
run() {
  # --data: translator train's default, $MULTI30K_DIR or translator.defaults.MULTI30K_DIR
  .venv/bin/translator train --src de --tgt en --out "$out/$1" \
    --config "benchmarks/configs/$1.yaml" --max-minutes "$minutes" --threads 1 --no-test -q \
    > "$out/$1.log" 2>&1
}
while [ $# -gt 0 ]; do
  run "$1" & pid1=$!
  if [ $# -gt 1 ]; then run "$2" & pid2=$!; wait $pid2; shift; fi
  wait $pid1; shift
done
.venv/bin/python benchmarks/ablation_report.py "$out"
