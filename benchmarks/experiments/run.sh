#!/usr/bin/env bash
# Work through experiment or tune directories of benchmarks/experiments one after another, two processes on each
# (one per core, OMP_NUM_THREADS=1), resuming whatever cells are already there.
#
#   bash benchmarks/experiments/run.sh tune amazon-beauty gorec mtpr cvae   # → tune-amazon-beauty-NAME, one grid each
#   bash benchmarks/experiments/run.sh experiment ml-100k                   # → ml-100k, the 18-row table
#
# Budget as every table and grid in RESULTS: 40 epochs, patience 15, seeds 0–1 for a grid, 0–4 for a table.
# FORCE=1 passes --force (needed when another model's preset changed since the directory was started; it
# discards only the cells whose settings changed). DATA defaults to ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=$1 dataset=$2
shift 2
data=${DATA:-../shared/data}
force=()
[[ ${FORCE:-0} == 1 ]] && force=(--force)
models=m2vae,v2,ccfcrec,clcrec,pad-clrec,dropoutnet,mtpr,lara,cvar,gar,cvae,mvdgae,mvgae,vmose,gorec,aldi,userpop,random,content_activity,content_activity_v1

both_cores() {  # run the same command twice on one directory; fail if either process fails
  local pids=()
  for _ in 1 2; do
    OMP_NUM_THREADS=1 "$@" &
    pids+=($!)
    sleep 5  # the first process records the directory before the second checks it
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}

case $kind in
  tune)
    for model in "$@"; do
      both_cores m2vae tune "$dataset" --data-dir "$data" --model "$model" --seeds 2 --epochs 40 \
        --set patience=15 --out "benchmarks/experiments/tune-$dataset-$model" "${force[@]}"
    done ;;
  experiment)
    both_cores m2vae experiment "$dataset" --data-dir "$data" --seeds 5 --epochs 40 --set patience=15 \
      --no-checkpoints --models "${1:-$models}" --out "benchmarks/experiments/$dataset" "${force[@]}" ;;
  *) echo "usage: run.sh tune DATASET MODEL... | run.sh experiment DATASET [MODELS]" >&2; exit 2 ;;
esac
