#!/usr/bin/env bash
# Prepare .devbench/ (ignored by git) for benchmarks/device/run.sh on a lent machine with
# more cores (issue 16's targets with the model on cores of its own). That machine reaches
# no network: it has Python 3.12 with torch, onnxruntime, numpy, uvloop, psutil and
# prometheus_client, and lacks wrk and the wheels below, which travel with the call
# (`carry: [".devbench"]`, about 4 MB). Run here, in the repository root.
set -eu
cd "$(dirname "$0")/../.."
rm -rf .devbench && mkdir -p .devbench/whl .devbench/bin .devbench/lib
command -v wrk >/dev/null || apt-get install -y -qq wrk
cp "$(command -v wrk)" .devbench/bin/
cp -L "$(ldd "$(command -v wrk)" | awk '/libluajit/ {print $3}')" .devbench/lib/
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .devbench/whl \
  httptools==0.9.0 cramjam==2.14.0 protobuf==7.36.2 websocket-client
cp benchmarks/device/run.sh .devbench/run.sh
du -sh .devbench
