#!/usr/bin/env bash
# The Fashion-MNIST head table on one GPU, time-bounded: run from the repository root on the GPU machine,
#   bash benchmarks/gpu_lgad_fashion.sh [SECONDS] [DATA_ROOT]
# SECONDS (default 480) bounds the whole script; DATA_ROOT defaults to ../shared/data/fashion-mnist. Needs gan-lab
# installed (an offline GPU machine: carry the venv); checks the GPU and bf16, then runs soft-max, AAM
# (balanced weight) and AAM at soft-max's weight (generation, then translation), seed 0 first, at the published widths (experiment=lgad_fashion_gen_gpu /
# lgad_fashion_gpu) until the time is up. Every finished run leaves its metrics.jsonl, sample grids and
# checkpoints under $OUT (or outputs/gpu) for `gan-lab compare runs=...`.
set -u
BUDGET=${1:-480}
ROOT=${2:-../shared/data/fashion-mnist}
OUTDIR=${OUT:-outputs/gpu}
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
mkdir -p "$OUTDIR"
command -v gan-lab >/dev/null || { echo "gan-lab is not installed here: install the project (pip install -e .) or carry a venv"; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUTDIR/gpu.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'bf16', torch.cuda.is_bf16_supported())" | tee -a "$OUTDIR/gpu.txt"
for exp in lgad_fashion_gen_gpu lgad_fashion_gpu; do
  mkdir -p "$OUTDIR/$exp"
  for seed in 0 1 2; do
    # the arms: soft-max, AAM at its balanced weight (λ_cls·3/s), AAM at soft-max's weight (matched λ_cls = 1)
    for arm in "softmax:head=softmax" "aam:head=aam" "aam_matched:head=aam head.reference_scale=null"; do
      name=${arm%%:*}; overrides=${arm#*:}
      t=$(left); [ "$t" -lt 120 ] && { echo "time is up ($t s left)"; exit 0; }
      run="$OUTDIR/$exp/$name-s$seed"
      echo "== $exp $overrides seed=$seed ($t s left)"
      # shellcheck disable=SC2086
      timeout "$t" gan-lab train experiment=$exp $overrides seed=$seed dataset.root="$ROOT" logger=none \
        paths.cache_dir="$OUTDIR/cache" hydra.run.dir="$run" trainer.enable_progress_bar=false \
        > "$run.log" 2>&1; echo "exit $? after $(( $(date +%s) - START )) s"
      tail -3 "$run.log"
    done
  done
done
