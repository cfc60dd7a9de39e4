#!/usr/bin/env bash
# Issue 16 on a lent machine with many cores: bench_models alone (no peers: no network
# there), with the kernel's default model threads (THREADS="default 1" adds a run with
# metadata.model_threads=1, the floor's pool). Quick durations. On the lent 16-core
# machine (2026-12-04) one quick run needed more than 265 s (it was stopped in the
# in-process floor, the last step): give it 400. Each figure is in models-*.log as it is
# measured ("bench_models:   ..."), so a run stopped early still leaves its numbers.
# Device: `bash .devbench/run.sh` with carry [".devbench"] (benchmarks/device/prepare.sh).
# Here, as that machine would see it (modules its image lacks blocked):
#   SIM=1 PY=.venv/bin/python OUT=/tmp/devout bash benchmarks/device/run.sh
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/devout}; mkdir -p "$OUT"
PY=${PY:-python3}
if [ -z "${SIM:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .devbench/whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD/benchmarks/device/block:$PWD
fi
[ -d .devbench/bin ] && export PATH=$PWD/.devbench/bin:$PATH LD_LIBRARY_PATH=$PWD/.devbench/lib
export EASLAB_BENCH_OFFICIAL_PYTHON=/nonexistent
{ date -u; nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|MHz"; free -g | head -2
  $PY -c "import sys, torch, onnxruntime, numpy, google.protobuf as p, httptools, uvloop, cramjam; print(sys.version.split()[0], torch.__version__, onnxruntime.__version__, numpy.__version__, p.__version__)"
  wrk --version | head -1; } 2>&1 | tee "$OUT/env.txt"
$PY -c "import easlab.kernel.server" || exit 4
for threads in ${THREADS:-default}; do
  if [ $threads = default ]; then unset EASLAB_BENCH_MODEL_THREADS; else export EASLAB_BENCH_MODEL_THREADS=$threads; fi
  start=$(date +%s)
  timeout "${BENCH_TIMEOUT:-400}" $PY benchmarks/bench_models.py ${QUICK---quick} \
    > "$OUT/models-$threads.md" 2> "$OUT/models-$threads.log"
  echo "== threads $threads: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "^\| c=1|^\| c=16" "$OUT/models-$threads.md" | cut -c1-220
  grep "^bench_models:   " "$OUT/models-$threads.log" | cut -c1-160
done
