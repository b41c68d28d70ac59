#!/usr/bin/env bash
# GPU trace of where a 1-minute fit's wall clock goes (session 2026-11-28). Train/val slices only.
# Run on the device from the repository root with .gpudata/isbi2012 (slices 00-23) and .whl carried, as
# benchmarks/cuda_session_check.sh says; results: benchmarks/results/cuda_fit/epoch_trace/.
set -u
python3 -m pip install -q --no-deps --target /tmp/site .whl/*.whl > $OUT/pip.log 2>&1
export PYTHONPATH=$PWD/src:/tmp/site NO_ALBUMENTATIONS_UPDATE=1
nvidia-smi --query-gpu=name --format=csv,noheader > $OUT/gpu.txt
python3 -c "import torch, lightning; print(torch.__version__, lightning.__version__, torch.cuda.get_device_name(0))" >> $OUT/gpu.txt 2>&1
nproc >> $OUT/gpu.txt
run() {  # name, extra overrides...
  name=$1; shift
  ( time timeout 170 python3 benchmarks/trace_fit_time.py $OUT/trace_$name.json fit .gpudata/isbi2012 --split train=0:20,val=20:24 --time 1m --out /tmp/fit_$name "$@" ) > $OUT/fit_$name.log 2>&1
  echo "rc=$?" >> $OUT/fit_$name.log
  cp /tmp/fit_$name/plan.yaml $OUT/plan_$name.yaml 2>/dev/null
  cp /tmp/fit_$name/train.json $OUT/train_$name.json 2>/dev/null
}
run default
run noelastic data.augment.elastic=false
