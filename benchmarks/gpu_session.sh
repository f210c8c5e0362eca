#!/usr/bin/env bash
# One GPU session, prepared to run unattended on a machine with an NVIDIA GPU, CuPy and PyTorch
# CUDA (no network needed): the environment, the training-step benchmark against PyTorch CUDA
# (alone on the device, so its timings are not disturbed), then the GPU tests and the examples
# with --device gpu side by side. Each stage has its own time limit and log; the summary lists
# every stage's exit status and time.
#
#   OUT=/tmp/gpu-logs MINITORCH_AG_DATA=../shared/data bash benchmarks/gpu_session.sh
#
# Variables: OUT (where logs go; default /tmp/minitorch_ag-gpu), MINITORCH_AG_DATA (the data
# sets: MNIST and Tiny Shakespeare), GPU_SESSION_QUICK=1 (smaller budgets, for a rerun),
# CUPY_CACHE_TGZ (a tarball of CuPy's kernel cache from an earlier session, to skip compiling),
# GPU_SESSION_REPEAT (timed steps per model, default 100).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-/tmp/minitorch_ag-gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MINITORCH_AG_EXAMPLES_OUT="${MINITORCH_AG_EXAMPLES_OUT:-$(mktemp -d)}"
export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-$HOME/.cupy/kernel_cache}"
QUICK="${GPU_SESSION_QUICK:-0}"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

if [ -n "${CUPY_CACHE_TGZ:-}" ] && [ -f "$CUPY_CACHE_TGZ" ]; then
    mkdir -p "$CUPY_CACHE_DIR" && tar -xzf "$CUPY_CACHE_TGZ" -C "$CUPY_CACHE_DIR"
fi

# stage NAME SECONDS LOG COMMAND...: run with a time limit, append its output to LOG, note the
# exit status and the seconds taken in the summary.
stage() {
    local name=$1 limit=$2 log=$3 start rc
    shift 3
    start=$(date +%s)
    echo "== $name: $*" >>"$log"
    timeout "$limit" "$@" >>"$log" 2>&1
    rc=$?
    echo "$name: exit $rc in $(($(date +%s) - start)) s" | tee -a "$SUMMARY"
    return 0
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
    python3 - <<'EOF'
import sys, numpy, cupy, torch
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__,
      "torch", torch.__version__, "cuda", torch.version.cuda)
print("cupy sees", cupy.cuda.runtime.getDeviceCount(), "device(s):",
      cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
EOF
} >"$OUT/env.log" 2>&1

repeat="${GPU_SESSION_REPEAT:-100}"
[ "$QUICK" = 1 ] && repeat=25
stage benchmark 150 "$OUT/benchmark.log" python3 benchmarks/gpu.py --repeat "$repeat" --profile

every=1
[ "$QUICK" = 1 ] && every=2
export MINITORCH_AG_GPU_EVERY=$every
stage tests 270 "$OUT/tests.log" \
    python3 -m pytest -q -p no:cacheprovider -n 8 -rfEs tests/gpu/test_gpu.py tests/test_device.py &
tests_pid=$!

epochs=10
[ "$QUICK" = 1 ] && epochs=3
{
    stage mnist_mlp_gpu 120 "$OUT/examples.log" \
        python3 examples/mnist_mlp.py --device gpu --no-download --no-plot --epochs "$epochs"
    stage lenet_gpu 90 "$OUT/examples.log" \
        python3 examples/lenet.py --device gpu --epochs 1 --limit 8000
    stage charlm_gpu 90 "$OUT/examples.log" \
        python3 examples/charlm.py --device gpu --no-download --no-plot --epochs 1 \
        --limit 300000 --sample-every 100
} &
examples_pid=$!
# The same main job on this machine's CPU, same seed, for the accuracy comparison.
stage mnist_mlp_cpu 150 "$OUT/examples_cpu.log" \
    python3 examples/mnist_mlp.py --device cpu --no-download --no-plot --epochs "$epochs"
wait "$examples_pid" "$tests_pid"

# The data-parallel path through NCCL on one GPU, and a step captured as a CUDA graph.
stage nccl 120 "$OUT/more.log" \
    python3 -m pytest -q -p no:cacheprovider -rs tests/distributed/test_nccl.py
stage nccl_benchmark 120 "$OUT/more.log" \
    python3 benchmarks/distributed.py --ranks 1 --device gpu --steps 30
stage graph 180 "$OUT/more.log" python3 benchmarks/gpu_graph.py

if [ -d "$CUPY_CACHE_DIR" ]; then
    tar -czf "$OUT/cupy_cache.tgz" -C "$CUPY_CACHE_DIR" .
fi
echo "done $(date -u)" >>"$SUMMARY"
