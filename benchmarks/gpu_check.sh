#!/usr/bin/env bash
# GPU check (issue 16): MLPF throughput on the GPU, then an HPO run of MLPF with four trials per GPU,
# compared with the default configuration after the same epochs.  Sized for <= 8 minutes on a fresh
# single-H200 machine that has torch but no Ray and no package registry (docs/gpu.md):
#
#     bash benchmarks/gpu_bundle.sh             # once, where pip works: wheels -> .whl/ (git-ignored)
#     bash benchmarks/gpu_check.sh OUT_DIR      # on the GPU machine, from the repository root
#
# OUT_DIR receives at most 8 files: gpu_check.md/.json (HPO vs default, physics), mlpf_throughput_gpu.json,
# default.json, check.log (everything printed), env.txt (nvidia-smi, versions), space.yaml.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-gpu_check_out}}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-470}
T0=$(date +%s)
SITE=${HPO_SITE:-/tmp/hpo_site}
export PYTHONUNBUFFERED=1 RAY_DISABLE_USAGE_STATS=1 RAY_USAGE_STATS_ENABLED=0
export HPO_CACHE=${HPO_CACHE:-/tmp/hpo_cache}
exec > >(tee -a "$OUT/check.log") 2>&1

left() { echo $((BUDGET_S - ($(date +%s) - T0))); }
stage() { echo "=== [$(($(date +%s) - T0)) s] $*"; }
cap() { local want=$1 rest; rest=$(left); [ "$rest" -lt "$want" ] && want=$rest; [ "$want" -lt 5 ] && want=5; echo "$want"; }

stage "install the wheel bundle (.whl) into $SITE"
if ! ls .whl/*.whl >/dev/null 2>&1; then
  echo "gpu_check: no .whl/ bundle here: run 'bash benchmarks/gpu_bundle.sh' where pip works, and carry .whl"
  exit 3
fi
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 3
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHIA8DATA="$SITE/share/Pythia8/xmldoc"
{ nvidia-smi; "$PY" -c "import sys, torch, ray, pythia8mc, fastjet, optuna, hpo
print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda,
      '| gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, '| ray', ray.__version__)"
  nproc; free -g; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 4)" || { echo "gpu_check: no CUDA device"; exit 4; }

N_TRAIN=${N_TRAIN:-16000}; N_VAL=${N_VAL:-2000}; EPOCHS=${EPOCHS:-8}; TRIALS=${TRIALS:-16}
stage "generate $N_TRAIN + $N_VAL MLPF events on $(nproc) cores"
timeout "$(cap 90)" "$PY" benchmarks/mlpf_gpu_check.py data --n-train "$N_TRAIN" --n-val "$N_VAL" --workers "$(nproc)" || exit 5

stage "throughput benchmark (grid, whole trials, 4 processes sharing the GPU)"
timeout "$(cap 150)" "$PY" benchmarks/mlpf_throughput.py --tag gpu --n-train "$N_TRAIN" --n-val "$N_VAL" \
  --events-per-shard 500 --target-s 1.0 --trial-events 4000 --trial-epochs 3 --share 4 --share-seconds 12 \
  --out-dir "$OUT" || echo "gpu_check: the throughput benchmark stopped early (partial JSON kept)"

stage "HPO: $TRIALS trials x up to $EPOCHS epochs, gpus_per_worker 0.25; default configuration beside it"
HPO_LIMIT=$(( $(left) - 45 )); [ "$HPO_LIMIT" -lt 60 ] && HPO_LIMIT=60
"$PY" benchmarks/mlpf_gpu_check.py space "$OUT/space.yaml" --n-train "$N_TRAIN" --n-val "$N_VAL" \
  --epochs "$EPOCHS" --trials "$TRIALS" --time-limit "$HPO_LIMIT" || exit 6
timeout "$(cap $((HPO_LIMIT + 30)))" "$PY" benchmarks/mlpf_gpu_check.py default "$OUT/default.json" \
  --epochs "$EPOCHS" --n-train "$N_TRAIN" --n-val "$N_VAL" > "$OUT/default.log" 2>&1 &
DEFAULT_PID=$!
timeout "$(cap $((HPO_LIMIT + 40)))" "$PY" -m hpo.run --space "$OUT/space.yaml" --storage /tmp/hpo_results \
  --name gpu_check
echo "hpo.run exit status $?"
wait "$DEFAULT_PID"; echo "default configuration exit status $?"
cat "$OUT/default.log"; rm -f "$OUT/default.log"

stage "report"
"$PY" benchmarks/mlpf_gpu_check.py report /tmp/hpo_results/gpu_check "$OUT/default.json" "$OUT/gpu_check.md"
stage "done"
