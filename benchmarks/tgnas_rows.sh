#!/usr/bin/env bash
# Every README row of the default (leave-one-out) tgnas proxy, measured again with the shipped
# weights: NB201 on its three datasets (1,000-cell sample and all 15,625 on CIFAR-10), all
# 1,000 DARTS genotypes, the 500 NB-101 rows and the 100-architecture sample of each
# TransNAS-Bench-101 task, then `benchmarks/tgnas_rows.py` prints the numbers. Only tgnas:
# it reads the graph (no network is built), so the script takes minutes; the params and flops
# rows beside it in the README do not depend on the weights.
#   ZERONAS_DATA=../shared/data benchmarks/tgnas_rows.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ZERONAS_DATA:?set ZERONAS_DATA to the benchmark data directory}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ZN=${ZERONAS:-.venv/bin/zeronas}
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-results/repro/tgnas_rows}
mkdir -p "$OUT"
run() {  # name, then correlate's arguments
  local name=$1; shift
  [ -f "$OUT/$name.json" ] && return 0
  "$ZN" correlate "$@" --seed 0 --data synthetic --baseline-sample 1 --no-plot \
    --store "$OUT/scores.sqlite" --out "$OUT/$name.json" > "$OUT/$name.log" 2>&1 \
    || { echo "$name failed: see $OUT/$name.log" >&2; return 1; }
}
run nb201_cifar10_all --space nb201 --dataset cifar10 --proxies tgnas --sample all
for ds in cifar100 ImageNet16-120; do
  run "nb201_${ds}" --space nb201 --dataset "$ds" --proxies tgnas --sample 1000
done
run darts_all --space darts --dataset cifar10 --proxies tgnas --sample all
run nb101_all --space nb101 --dataset cifar10 --proxies tgnas --sample all
for space in tnb101_micro tnb101_macro; do
  for task in class_scene class_object jigsaw room_layout segmentsemantic normal autoencoder; do
    run "${space}_${task}" --space "$space" --dataset "$task" --proxies tgnas --sample 100
  done
done
"$PY" benchmarks/tgnas_rows.py "$OUT"
