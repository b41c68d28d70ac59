#!/usr/bin/env bash
# The CUDA paths of the self-configuring fit, end to end, on a GPU machine (CI has none; this is a check to
# run where one is lent, not a test): the CUDA tests, `unetkit plan DIR` measuring the GPU, a budgeted
# `unetkit fit DIR` training there, prediction on the GPU (fp32 and --amp) against the CPU's, and an ONNX
# export of the GPU-trained model. ISBI 2012's README split without its test slices: the run scores its
# validation slices only (the ISBI test slices are not scored again; see docs/benchmarks.md).
#
#   bash benchmarks/cuda_fit.sh DATA/isbi2012 OUT [BUDGET]     (BUDGET default 3m)
#
# COMPARE_BASE=16 also trains the same plan with model.kwargs.base_channels=16 (one key changed, same
# budget, right after): the planned width against another on the same machine; COMPARE_BASE=other takes 16,
# or 64 when the plan took 16. CHECKS=0 skips the tests,
# the predictions and the export (a shorter call).
# Writes OUT/cuda_fit.log (every command and its output), OUT/plan.yaml, OUT/metrics_val.json,
# OUT/metrics.csv, OUT/train.json, OUT/curves.png and OUT/cuda_fit.json (what the summary in docs/benchmarks.md quotes).
set -uo pipefail
data=$1
out=$2
budget=${3:-3m}
py=${PYTHON:-python3}
work=$(mktemp -d)
split="train=0:20,val=20:24"
mkdir -p "$out"
log="$out/cuda_fit.log"
: >"$log"
step() { # step NAME CMD...: run, log, remember the exit status
  echo "### $1: ${*:2}" >>"$log"
  local t0=$SECONDS
  "${@:2}" >>"$log" 2>&1
  local rc=$?
  echo "### $1: exit $rc, $((SECONDS - t0)) s" >>"$log"
  echo "$1 $rc $((SECONDS - t0))" >>"$work/steps"
}
uk() { "$py" -m unetkit.cli.main "$@"; }
step gpu nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step versions "$py" -c "import torch, lightning; print(torch.__version__, lightning.__version__, torch.cuda.get_device_name(0))"
checks=${CHECKS:-1}
[ "$checks" = 1 ] && step cuda_tests "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/planning/test_cli_plan.py
step plan uk plan "$data" --split "$split" --time "$budget" --out "$work/plan/plan.yaml"
step fit uk fit "$data" --plan "$work/plan/plan.yaml" \
  "output.root=$work/runs" output.name=isbi
run="$work/runs/isbi"
if [ "${COMPARE_BASE:-}" = other ]; then
  # the width the plan did not take: 16, or 64 when the plan took 16
  planned=$(sed -n 's/^ *base_channels: *\([0-9]*\).*/\1/p' "$work/plan/plan.yaml" | head -1)
  COMPARE_BASE=$([ "$planned" = 16 ] && echo 64 || echo 16)
fi
if [ -n "${COMPARE_BASE:-}" ]; then
  step "fit_b$COMPARE_BASE" uk fit "$data" --plan "$work/plan/plan.yaml" "model.kwargs.base_channels=$COMPARE_BASE" \
    "output.root=$work/runs" "output.name=b$COMPARE_BASE"
fi
[ "$checks" = 1 ] || touch "$work/skip"
[ -e "$work/skip" ] || step predict_gpu uk predict "$run" "$data/images/20.png" "$data/images/23.png" --device cuda --out "$work/gpu" --quiet
[ -e "$work/skip" ] || step predict_amp uk predict "$run" "$data/images/20.png" "$data/images/23.png" --device cuda --amp --out "$work/amp" --quiet
[ -e "$work/skip" ] || step predict_cpu uk predict "$run" "$data/images/20.png" "$data/images/23.png" --device cpu --out "$work/cpu" --quiet
[ -e "$work/skip" ] || step export uk export "$run" --format onnx --out "$work/export"
cp "$run/plan.yaml" "$run/metrics_val.json" "$run/train.json" "$run/logs/metrics.csv" "$run/figures/curves.png" \
  "$out/" 2>/dev/null
"$py" - "$work" "$out" "$budget" <<'EOF'
import json, os, sys
from pathlib import Path

import numpy as np
from PIL import Image

work, out, budget = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
steps = {n: {"exit": int(rc), "seconds": int(s)} for n, rc, s in (l.split() for l in (work / "steps").read_text().splitlines())}
agree = {}
for name in ("20", "23"):
    try:
        cpu = np.asarray(Image.open(work / "cpu" / "masks" / f"{name}.png"))
        agree[name] = {
            kind: float((np.asarray(Image.open(work / kind / "masks" / f"{name}.png")) == cpu).mean())
            for kind in ("gpu", "amp")
        }
    except OSError as err:
        agree[name] = str(err)
val = out / "metrics_val.json"
others = {
    run.name: {
        "val": json.loads((run / "metrics_val.json").read_text()),
        "train": json.loads((run / "train.json").read_text()),
        "base_channels": json.loads((run / "model" / "config.json").read_text())["model_kwargs"]["base_channels"],
    }
    for run in sorted((work / "runs").glob("*"))
    if (run / "metrics_val.json").exists()
}
result = {
    "command": " ".join(
        [f"{k}={os.environ[k]}" for k in ("COMPARE_BASE", "CHECKS") if os.environ.get(k)]
        + [f"bash benchmarks/cuda_fit.sh DATA/isbi2012 OUT {budget}"]
    ),
    "budget": budget,
    "steps": steps,
    "mask_agreement_with_cpu": agree,
    "val": json.loads(val.read_text()) if val.exists() else None,
    "runs": others,
    "export_files": sorted(p.name for p in (work / "export").glob("*")) if (work / "export").exists() else [],
}
(out / "cuda_fit.json").write_text(json.dumps(result, indent=2))
print(json.dumps({k: result[k] for k in ("steps", "mask_agreement_with_cpu")}, indent=1))
EOF
