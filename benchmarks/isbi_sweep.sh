#!/bin/bash
# ISBI 2012 recipe sweep: trains several `unetkit fit --config benchmarks/configs/isbi2012.yaml` variants side by side (a GPU with
# many CPU cores: each run uses 1 thread), then scores every run with benchmarks/isbi_sweep_eval.py.
#
#   DATA=../shared/data/isbi2012 OUT=/tmp/sweep bash benchmarks/isbi_sweep.sh \
#       base "" b8_e100 "model.kwargs.base_channels=8;trainer.max_epochs=100"
#
# Arguments come in pairs: a run name and its overrides separated by ';'. Runs are epoch-capped with no time
# limit, so a run on the GPU does the same optimizer steps as the CPU run of equal epochs (results in
# benchmarks/results/isbi_sweep/, discussed in docs/benchmarks.md). Optional: wheels in .whl/ are installed
# first (for a machine without the registries).
set -u
DATA=${DATA:-../shared/data/isbi2012}
OUT=${OUT:-/tmp/isbi_sweep}
PY=${PY:-python3}
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
RUNS=$OUT/runs
mkdir -p "$RUNS" "$OUT/logs"
COMMON="data.root=$(realpath "$DATA") trainer.max_time_minutes=null schedule.by=epoch trainer.precision=32-true trainer.progress_bar=false trainer.num_threads=1 output.root=$RUNS"
while [ $# -gt 1 ]; do
  name=$1
  IFS=';' read -ra ov <<< "$2"
  shift 2
  (
    $PY -c "import sys; from unetkit.cli.main import main; sys.exit(main(sys.argv[1:]))" fit --config benchmarks/configs/isbi2012.yaml \
      $COMMON "output.name=$name" "${ov[@]}" > "$OUT/logs/$name.log" 2>&1
    echo "$name rc=$?"
  ) &
done
wait
$PY benchmarks/isbi_sweep_eval.py "$RUNS" "$DATA" "$OUT/sweep.json"
