#!/usr/bin/env bash
# Every GPU figure of the throughput work in one short run (extraction efficiency for ResNet50 and ViT-B/16 at bf16,
# fine-tuning loop vs training step for ResNet50 on the paper recipe, top-tuning on CUDA, two models with
# and without the decoded-image cache, the paper's cost claim on SOP-shaped data):
#
#   benchmarks/gpu_all.sh                       # on an H100/H200: --device cuda, full sizes (~5 min)
#   benchmarks/gpu_all.sh --device cpu --quick  # the same steps with tiny models, to check the script
#
# Needs the project importable (`uv sync`, or on a bare GPU host PYTHONPATH=. plus the project's locked
# dependencies; PYTHON=... names the interpreter); no internet: models are random-init timm models. It runs in
# the repository it belongs to, from whatever folder it is started. Output: one log under ${OUT:-/tmp}/gpu_all.log. The cost claim runs last (the longest step: its top-tune search is the
# paper preset's, run in full, at --scale 0.05 of SOP; the ratio is about scale-free, both sides being linear in
# the images). SKIP="cost_claim image_cache ..." leaves steps out (names: extraction finetune image_cache
# gpu_decode toptune cost_claim), e.g. to rerun only the one that failed.
set -euo pipefail
device=cuda quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
log=${LOG:-${OUT:-/tmp}/gpu_all.log}  # LOG=...: another file, e.g. for a second run with SKIP
case "$log" in /*) ;; *) log="$PWD/$log" ;; esac  # a relative LOG or OUT means the folder it was started from
cd "$(dirname "$0")/.."  # the repository: the benchmarks, the package and its .venv are found from there
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONUNBUFFERED=1 KERAS_BACKEND=torch PYTHONPATH=".:benchmarks:${PYTHONPATH:-}"
cores=$($py -c "from harness.compute.extract.settings import default_workers; print(default_workers())")
if [ "$quick" = 1 ]; then
  models=("timm:test_efficientnet[init=random]") images=16 size=128 batch=8 precision=fp32
  ft=(--model "timm:test_resnet[init=random]" --preset quick --epochs 2 --images 64 --classes 4 --size 96
      --workers 0 --iterations 3)
  ic=(--models "timm:test_efficientnet[init=random],timm:test_vit[init=random]" --images 32 --size 128
      --batch-size 8 --workers 1)
  gd=(--model "timm:test_efficientnet[init=random]" --images 32 --size 256 --batch-size 8 --workers 1)
  cc=(--model "timm:test_resnet[init=random]" --scale 0.001 --size 64 --finetune-preset smoke
      --toptune-preset smoke --epochs 2 --workers 0 --batch-size 16)
else
  models=("timm:resnet50[init=random]" "timm:vit_base_patch16_224[init=random]")
  images=2048 size=512 batch=256 precision=bf16
  ft=(--model "timm:resnet50[init=random]" --preset paper --epochs 3 --images 8192 --classes 64 --size 512
      --workers "$cores" --iterations 20)
  ic=(--models "timm:resnet50[init=random],timm:resnet101[init=random]" --images 4096 --size 512
      --batch-size 256 --workers "$cores" --precision bf16)
  gd=(--model "timm:resnet50[init=random]" --images 4096 --size 512 --batch-size 256 --workers "$cores")
  cc=(--model "timm:resnet50[init=random]" --scale 0.05 --size 500 --finetune-preset paper
      --toptune-preset paper --epochs 3 --workers "$cores" --batch-size 256 --precision bf16)
fi
skip=" ${SKIP:-} "
step() { case "$skip" in *" $1 "*) echo "== $1: skipped (SKIP)"; return 1 ;; esac; echo "== $1 ($(date -u +%T))"; }
{
  echo "== machine: $(nproc) cores, default decoding workers $cores, device $device"
  $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"
  if step extraction; then
    for m in "${models[@]}"; do
      echo "-- $m"
      $py benchmarks/pipeline_efficiency.py --model "$m" --device "$device" --precision "$precision" \
        --images "$images" --size "$size" --batch-size "$batch" --workers "$cores" --iterations 10 --repeats 2
    done
  fi
  if step finetune; then
    echo "fine-tuning loop vs training step"
    $py benchmarks/finetune_throughput.py "${ft[@]}" --device "$device"
  fi
  if step image_cache; then
    echo "two models with the same preprocessing, with and without the decoded-image cache"
    $py benchmarks/image_cache.py "${ic[@]}" --device "$device"
  fi
  if step gpu_decode; then
    echo "JPEG decode + resize on the device (decode_jpeg: nvJPEG on CUDA) vs PIL in workers"
    $py benchmarks/gpu_decode.py "${gd[@]}" --device "$device"
  fi
  if step toptune; then
  echo "top-tuning head on the cell's device"
  $py - "$device" <<'PY'
import sys, tempfile, time
from pathlib import Path
import numpy as np
from harness.compute.suites.heads import head_costs
from harness.compute.toptune.presets import load_preset
from harness.compute.toptune.train import train_head
device = sys.argv[1]
rng = np.random.default_rng(0)
labels = np.repeat(np.arange(20), 30)
x = (rng.normal(size=(20, 512))[labels] + rng.normal(size=(600, 512))).astype(np.float32)
preset = load_preset("quick" if device == "cpu" else "paper")
with tempfile.TemporaryDirectory() as tmp:
    started = time.perf_counter()
    head = train_head(x, labels, preset, 0, Path(tmp) / "job", overwrite=False, what="gpu_all", device=device)
    weights = {w._value.device.type for w in head.head.weights}
costs = head_costs(head)
print(f"head device {head.device}, weights on {weights}, wall {time.perf_counter() - started:.1f} s")
print({k: round(v, 4) for k, v in costs.items() if k.startswith("toptune_") or k.startswith("tuner_")})
PY
  fi
  if step cost_claim; then
    echo "the paper's cost claim: full fine-tuning vs top-tuning on SOP-shaped data"
    $py benchmarks/cost_claim.py "${cc[@]}" --device "$device"
  fi
  echo "== done ($(date -u +%T))"
} 2>&1 | tee "$log"
