#!/usr/bin/env bash
# Regenerate docs/benchmarks.md: every side-by-side benchmark of the package, measured in one
# go on this machine (about 5 minutes on 2 cores). Needs `bash tools/setup.sh` first.
# Keep the machine otherwise idle while it runs: the numbers are ratios measured in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export MUJOCO_GL=${MUJOCO_GL:-egl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo 'bench: bundled detector, every variant ...' >&2
ros2-infer bench --runs 300 > "$tmp/bundled.txt" 2>/dev/null
ros2-infer bench --runs 300 --threads 1 --model ros2_infer/models/tinydet.yaml \
  ros2_infer/models/tinydet_int8_x86.yaml 2>/dev/null | tail -3 > "$tmp/bundled1.txt"
echo 'bench: bundled depth model ...' >&2
ros2-infer bench --runs 300 --model ros2_infer/models/tinydepth.yaml \
  ros2_infer/models/tinydepth_ts.yaml ros2_infer/models/tinydepth_int8_x86.yaml \
  > "$tmp/depth.txt" 2>/dev/null
echo 'bench: generated random-weight TinyDet ...' >&2
ros2-infer bench --generated --regenerate --runs 300 > "$tmp/generated.txt" 2>/dev/null
echo 'bench: detector node overhead vs a seed-style path ...' >&2
python tools/bench_node_overhead.py --out "$tmp/node.md" > /dev/null 2>&1
python tools/bench_node_overhead.py --size tinydet --out "$tmp/node_tiny.md" > /dev/null 2>&1
python tools/bench_node_overhead.py --spec bundled:tinydet_int8_x86 --conf 0.25 \
  --out "$tmp/node_bundled.md" > /dev/null 2>&1
echo 'bench: simulator speed ...' >&2
python tools/bench_sim.py --duration 30 2>/dev/null | tail -3 > "$tmp/sim_raw.txt"
python tools/bench_sim.py --duration 30 --compressed 2>/dev/null | tail -3 > "$tmp/sim_jpeg.txt"
echo 'bench: a Cartographer-style map->odom at 200 Hz, thinned vs every transform ...' >&2
python tools/bench_slam_tf.py --duration 120 > "$tmp/slam_tf.txt" 2>/dev/null
echo 'demo: the 3-minute mission (fusion cost per event, end-to-end latencies) ...' >&2
ros2-infer demo --no-progress --out "$tmp/demo" > "$tmp/demo.txt" 2>/dev/null

{
  echo '# Benchmarks'
  echo
  echo 'Every figure here is printed by a command anyone can run, measured side by side in one'
  echo "run. Regenerate this whole file with \`bash tools/benchmarks.sh\`. Measured $(date -u +%F)"
  echo "on $(uname -m), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))."
  echo
  echo '## Bundled detector, every variant (`ros2-infer bench`)'
  echo
  echo 'Each variant runs in its own process ("RSS MB" is its peak, torch import included); "e2e"'
  echo 'is preprocessing (640x480 -> 320x240) + model + decoding + NMS; "eff" is achieved GFLOP/s'
  echo '/ measured fp32 GEMM GFLOP/s (int8 above 100 % is expected). Parity on 8 synthetic scenes.'
  echo
  echo '```'; cat "$tmp/bundled.txt"; echo '```'
  echo
  echo 'ONNX Runtime fp32 vs int8 on one thread (`--threads 1`):'
  echo
  echo '```'; cat "$tmp/bundled1.txt"; echo '```'
  echo
  echo '## Bundled depth model'
  echo
  echo '```'; cat "$tmp/depth.txt"; echo '```'
  echo
  echo '## Runtime on a generated random-weight TinyDet (`ros2-infer bench --generated`)'
  echo
  echo '```'; cat "$tmp/generated.txt"; echo '```'
  echo
  echo '## Detector node: per-frame overhead vs a seed-style path'
  echo
  echo '`tools/bench_node_overhead.py` (PIL + torchvision transforms + element-wise message fill'
  echo 'as the seed-style path; rosbags message classes, no ROS needed). The model is a generated'
  echo "random-weight network with YOLOv8n's cost and output layout (8.7 GFLOP at 640x640, 80"
  echo 'classes, [1, 84, 8400]), what most users run behind a detector node at 640x640. The'
  echo "overhead's absolute cost barely depends on the model; its share does, so it is also given"
  echo 'for two lighter models below.'
  echo
  sed -n '3,$p' "$tmp/node.md" | sed 's/^## /### /'
  echo
  echo '### A lighter model: the TinyDet architecture at 640x640 (3.4 GFLOP, 7 classes)'
  echo
  sed -n '3,/^Node overhead/p' "$tmp/node_tiny.md"
  echo
  echo '### The bundled default detector (320x240 int8, under 1 ms)'
  echo
  echo 'Overhead in absolute terms for a model this small: the image is downscaled 640x480 ->'
  echo '320x240 in preprocessing, so the share of the model time is far above the 640x640 case.'
  echo
  sed -n '3,/^Node overhead/p' "$tmp/node_bundled.md"
  echo
  echo '## Simulator speed (`tools/bench_sim.py --duration 30`)'
  echo
  echo '```'; cat "$tmp/sim_raw.txt"; echo; echo '# --compressed (JPEG)'; cat "$tmp/sim_jpeg.txt"
  echo '```'
  echo
  echo '## The mission end to end (`ros2-infer demo`): accuracy, latencies, fusion cost per event'
  echo
  echo '```'; grep -v '^simulate' "$tmp/demo.txt" | sed "s#$tmp/demo#demo_report#"; echo '```'
  echo
  echo 'Fusion cost over a 20-minute run (median 0.02 ms, p99 1.9 ms per event, flat): the cost'
  echo 'stage of `tools/eval_localization.py` ([localization.md](localization.md)).'
  echo
  echo '## A Cartographer-style SLAM input: map->odom at 200 Hz (`tools/bench_slam_tf.py`)'
  echo
  echo 'Cartographer publishes map->odom every 5 ms, but its estimate changes only at the scan rate.'
  echo 'The pipeline fuses one transform per 0.2 s of stamps (`slam_tf_min_period_ns`, node parameter'
  echo '`slam.tf_min_period`). The benchmark feeds the same synthetic 120 s stream to the default'
  echo 'pipeline and to one that fuses every transform, in one run. The stream: a 1 m circle at'
  echo '0.2 m/s; odometry at 30 Hz with a 0.3°/s gyro bias; a SLAM error with σ 4 cm and τ 20 s, new'
  echo 'at each 5 Hz scan.'
  echo
  echo '```'; echo '$ PYTHONPATH=. python tools/bench_slam_tf.py --duration 120'; cat "$tmp/slam_tf.txt"
  echo '```'
  echo
  echo 'Fusing every transform costs more time and makes 8x the keyframes (the ratios above). It is'
  echo "also less accurate: each scan's estimate is counted 40 times as if its errors were"
  echo 'independent.'
  echo
  echo '## Raspberry Pi 4 / Pi 5 (estimate)'
  echo
  echo '**An estimate, not a measurement** (no Pi was available): per-frame model time = FLOPs per'
  echo "frame / (the SoC's sustained fp32 GFLOP/s x the share of it a small conv net reaches), printed"
  echo 'by `python tools/arm64/pi_estimate.py`. Assumptions, stated there: peak = 4 cores x clock x'
  echo 'fp32 FLOP/cycle (Cortex-A72: one 128-bit NEON FMA per cycle, 8 FLOP; Cortex-A76: two, 16'
  echo 'FLOP), sustained GEMM = 55 % of peak, and ONNX Runtime fp32 reaching 30-60 % of sustained on'
  echo 'these small nets (40-100 % on the x86 machine above). int8 (`*_int8_arm`) should add a'
  echo 'further 1.3-2x on a Pi 5 (Cortex-A76 has the `sdot` dot-product instructions) and less on a'
  echo 'Pi 4 (Cortex-A72 has none). The correctness of the ARM build itself is measured, under QEMU:'
  echo '[arm64.md](arm64.md). On a Pi, `ros2-infer bench` prints the table of the first section.'
  echo
  echo '```'; python tools/arm64/pi_estimate.py; echo '```'
} > docs/benchmarks.md
echo 'wrote docs/benchmarks.md' >&2
