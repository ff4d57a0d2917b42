#!/usr/bin/env bash
# The prepared GPU check: one script, run once on a lent GPU machine (about 10 minutes on one H200).
#
#   bash bench/gpu_check.sh             # on the GPU machine, from the repository root
#   bash bench/gpu_check.sh --dry-run   # the same steps on CPU with tiny sizes (tested in the suite)
#
# Steps: the device and versions; the GPU test subset (`pytest -m gpu`); training throughput at 224 px
# (fp32/bf16/channels-last/compile and the AVA-protocol projection); scoring throughput on CUDA with CPU
# decoding and with nvJPEG. Everything is printed and kept in $OUT/gpu_check.log (OUT defaults to
# runs/gpu_check), so the figures can go into bench/RESULTS.md with the GPU named.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
out=${OUT:-runs/gpu_check}
mkdir -p "$out"
log="$out/gpu_check.log"
: >"$log"
python=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
failed=0

step() {  # step NAME COMMAND...: run, log, remember failures, go on with the next step
  local name=$1
  shift
  echo "== $name: $*" | tee -a "$log"
  local start=$SECONDS
  "$@" 2>&1 | tee -a "$log"
  local status=${PIPESTATUS[0]}
  echo "== $name: exit $status after $((SECONDS - start)) s" | tee -a "$log"
  [ "$status" -eq 0 ] || failed=1
}

step device "$python" -c "import torch, torchvision, sys; print('python', sys.version.split()[0], 'torch', \
torch.__version__, 'torchvision', torchvision.__version__); print('device', torch.cuda.get_device_name(0) \
if torch.cuda.is_available() else 'cpu (no CUDA device)')"
if [ $dry -eq 1 ]; then
  step gpu-tests "$python" -m pytest -q -p no:cacheprovider -m gpu tests/gpu
  step train-throughput "$python" bench/train_throughput.py --quick --device cpu --backbones tiny --precisions fp32 \
    --image-size 40 --crop-size 32 --batch-size 8 --workers 1 --threads 1
  step score-throughput "$python" bench/score_throughput.py --device cpu --backbones tiny --images 4 \
    --size 160x120 --repeats 1 --configs 0
else
  command -v nvidia-smi >/dev/null && step nvidia-smi nvidia-smi
  step gpu-tests "$python" -m pytest -q -p no:cacheprovider -m gpu tests/gpu
  step train-throughput "$python" bench/train_throughput.py --device cuda --compile
  step score-throughput "$python" bench/score_throughput.py --device cuda --backbones densenet121 \
    --images 512 --size 1920x1080 --repeats 2
fi
echo "gpu_check: $([ $failed -eq 0 ] && echo 'all steps passed' || echo 'some steps failed'); log: $log"
exit $failed
