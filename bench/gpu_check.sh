#!/usr/bin/env bash
# The stacked engine on a CUDA GPU, as one short script: the CUDA test, throughput
# against the stack size K, and the fig5 study's 84 cells trained stacked.
# Run from the repository root where python3 has a CUDA build of PyTorch:
#   bash bench/gpu_check.sh OUT_DIR [FIG5_SECONDS]
set -u
out=${1:-gpu-out}
budget=${2:-300}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_stacking.py -rs 2>&1 | tail -n 15 | tee "$out/tests.txt"
python3 bench/sweep_throughput.py --device cuda --cores 1 --steps 200 2>&1 | tee "$out/scaling.txt"
start=$(date +%s)
timeout "$budget" python3 -m latentdim sweep studies/fig5.toml -o "$out/fig5" --device cuda --jobs 4 --no-report \
  > "$out/fig5.log" 2>&1
echo "fig5 exit $? after $(( $(date +%s) - start )) s; $(wc -l < "$out/fig5/records.jsonl") of 84 cells recorded" \
  | tee "$out/fig5.txt"
tail -n 3 "$out/fig5.log" | tee -a "$out/fig5.txt"
