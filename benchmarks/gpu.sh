#!/usr/bin/env bash
# The first-GPU-run benchmark. Run by hand on a machine with an NVIDIA GPU (about 8 minutes):
#
#   bash benchmarks/gpu.sh                 # all five architectures at 128², batch 128
#   bash benchmarks/gpu.sh --archs dcgan   # extra arguments go to benchmarks/bench_gpu.py
#
# Per architecture: images/s with and without mixed precision, channels_last and torch.compile;
# peak GPU memory at batch 128; steps skipped by the fp16 GradScaler; DataLoader throughput and
# stall; the cost of spectral norm and of GroupNorm + channels_last; the projected time of the
# paper's 100 epochs over 60,361 images. Appends a dated table to docs/performance.md (commit it).
# On a machine without a GPU: python benchmarks/bench_gpu.py --device cpu --quick (a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
export DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true
python - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("benchmarks/gpu.sh needs a CUDA GPU (try: python benchmarks/bench_gpu.py --device cpu --quick)")
print(f"GPU: {torch.cuda.get_device_name()}, compute capability {torch.cuda.get_device_capability()}")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# New runs stop after 420 s; the hard limit leaves a minute for the last one and the table.
timeout 480 python benchmarks/bench_gpu.py --device cuda --budget-s 420 --out docs/performance.md "$@"
echo "Appended to docs/performance.md"
