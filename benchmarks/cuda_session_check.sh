#!/usr/bin/env bash
# A short check of one session's changes on a lent GPU machine (not a test, not a benchmark): the CUDA tests
# and the tests of the changed CPU paths, then a 1-minute `unetkit fit` of ISBI 2012's slices 00-23 (train
# 00-19, val 20-23: the test slices are not scored). Run from the repository root on the device with
# .gpudata/isbi2012 (those 24 slices, images/ + masks/) and .whl (albumentations and pydantic wheels for the
# machine's Python) carried; OUT is the device's output folder. Results: benchmarks/results/cuda_fit/session_check/.
set -u
python3 -m pip install -q --no-deps --target /tmp/site .whl/*.whl > $OUT/pip.log 2>&1
export PYTHONPATH=$PWD/src:/tmp/site NO_ALBUMENTATIONS_UPDATE=1
nvidia-smi --query-gpu=name --format=csv,noheader > $OUT/gpu.txt
python3 -c "import torch, lightning; print(torch.__version__, lightning.__version__, torch.cuda.get_device_name(0))" >> $OUT/gpu.txt 2>&1
timeout 150 python3 -m pytest -q -p no:cacheprovider -n 8 tests/test_cuda.py tests/test_package.py tests/training/test_budget.py tests/training/test_fit_threads.py tests/training/test_fit_decodes_once.py tests/export/test_pad_multiple.py tests/detection/test_maskrcnn_shared_threshold.py tests/planning/test_folder_api.py > $OUT/gpu_tests.log 2>&1
echo "tests rc=$?" >> $OUT/gpu_tests.log
( time timeout 200 python3 -m unetkit.cli.main fit .gpudata/isbi2012 --split train=0:20,val=20:24 --time 1m --out /tmp/fit1m ) > $OUT/fit1m.log 2>&1
echo "fit rc=$?" >> $OUT/fit1m.log
for f in plan.yaml train.json metrics_val.json metrics.csv; do [ -f /tmp/fit1m/$f ] && cp /tmp/fit1m/$f $OUT/; done
ls /tmp/fit1m >> $OUT/fit1m.log 2>&1
