#!/usr/bin/env bash
# Every figure of issue 16 in one short run (extraction efficiency for ResNet50 and ViT-B/16 at bf16,
# fine-tuning loop vs training step for ResNet50 on the paper recipe, top-tuning on CUDA):
#
#   benchmarks/gpu_all.sh                       # on an H100/H200: --device cuda, full sizes (~5 min)
#   benchmarks/gpu_all.sh --device cpu --quick  # the same steps with tiny models, to check the script
#
# Needs the project importable (`uv sync`, or on a bare GPU host PYTHONPATH=. plus the project's wheels,
# see /work/.library/device/README.md); no internet: models are random-init timm models. Output: one log
# under ${OUT:-/tmp}/gpu_all.log. The cost-claim benchmark (SOP-shaped data) is not part of it yet.
set -euo pipefail
device=cuda quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
log=${OUT:-/tmp}/gpu_all.log
export PYTHONUNBUFFERED=1 KERAS_BACKEND=torch PYTHONPATH=".:benchmarks:${PYTHONPATH:-}"
cores=$($py -c "from harness.embed import default_workers; print(default_workers())")
if [ "$quick" = 1 ]; then
  models=("timm:test_efficientnet[init=random]") images=16 size=128 batch=8 precision=fp32
  ft=(--model "timm:test_resnet[init=random]" --preset quick --epochs 2 --images 64 --classes 4 --size 96
      --workers 0 --iterations 3)
else
  models=("timm:resnet50[init=random]" "timm:vit_base_patch16_224[init=random]")
  images=2048 size=512 batch=256 precision=bf16
  ft=(--model "timm:resnet50[init=random]" --preset paper --epochs 3 --images 8192 --classes 64 --size 512
      --workers "$cores" --iterations 20)
fi
{
  echo "== machine: $(nproc) cores, default decoding workers $cores, device $device"
  $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"
  for m in "${models[@]}"; do
    echo "== extraction: $m"
    $py benchmarks/pipeline_efficiency.py --model "$m" --device "$device" --precision "$precision" \
      --images "$images" --size "$size" --batch-size "$batch" --workers "$cores" --iterations 10 --repeats 2
  done
  echo "== fine-tuning loop vs training step"
  $py benchmarks/finetune_throughput.py "${ft[@]}" --device "$device"
  echo "== top-tuning head on the cell's device"
  $py - "$device" <<'PY'
import sys, tempfile, time
from pathlib import Path
import numpy as np
from harness.suites.heads import head_costs
from harness.toptune.presets import load_preset
from harness.toptune.train import train_head
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
} 2>&1 | tee "$log"
