#!/usr/bin/env bash
# TransNAS-Bench-101 proxy table (README, "Every proxy" tables), one lane on one torch thread.
# For each space:task given: first the cheap proxies on a seeded 100-architecture sample, then
# tgnas with the NB201-trained weights (the default is the leave-one-out predictor), last
# grasp and zen (each 10-80x a forward+backward on these 256x256 networks) on 30; synthetic
# images and task-shaped synthetic targets, batch 8; the proxies of an architecture share their
# forward/backward passes (--shared-passes: same values, about 2x faster on these networks, each
# proxy charged an even share of the time). Scores go to results/tnb.sqlite, so an
# interrupted lane resumes; a finished (space, task, part) is skipped.
#   benchmarks/tnb_table.sh tnb101_micro:normal tnb101_macro:class_scene ...
# PARTS="costly" (or any of: cheap tgnas_nb201 costly) runs only those parts, in that order.
# Needs ZERONAS_DATA (the TransNAS-Bench-101 ground truth); run two lanes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ZERONAS_DATA:?set ZERONAS_DATA to the benchmark data directory}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ZN=${ZERONAS:-.venv/bin/zeronas}
OUT=results/repro/tnb_table
mkdir -p "$OUT"
CHEAP=params,flops,synflow,naswot,snip,grad_norm,fisher,fisher_released,zico,tgnas
NB201_WEIGHTS=src/zeronas/predictors/tgnas/weights/tgnas_nb201_cifar10.pt
PARTS=${PARTS:-cheap tgnas_nb201 costly}
for part in $PARTS; do  # every word checked before anything runs
  case $part in cheap|tgnas_nb201|costly) ;; *) echo "unknown part '$part' in PARTS (expected cheap, tgnas_nb201, costly)" >&2; exit 2 ;; esac
done
for part in $PARTS; do
  for st in "$@"; do
    space=${st%%:*}; task=${st##*:}
    extra=(); baseline=all
    case $part in
      cheap) proxies=$CHEAP; n=100; name=${space}_${task} ;;
      # the NB201-trained predictor beside the default (leave-one-out) one in $CHEAP
      tgnas_nb201) proxies=tgnas; n=100; name=${space}_${task}_tgnas_nb201; baseline=1
                   extra=(--predictor-weights "$NB201_WEIGHTS") ;;
      costly) proxies=grasp,zen; n=30; name=${space}_${task}_grasp_zen ;;
    esac
    [ -f "$OUT/$name.json" ] && continue
    start=$(date +%s)
    "$ZN" correlate --space "$space" --dataset "$task" --proxies "$proxies" --sample "$n" \
      --seed 0 --data synthetic --batch-size 8 --batches 2 --baseline-sample "$baseline" \
      --store results/tnb.sqlite --out "$OUT/$name.json" --no-plot --shared-passes \
      "${extra[@]}" > "$OUT/$name.log" 2>&1
    echo "$name $(( $(date +%s) - start )) s" >> "$OUT/elapsed.log"
  done
done
