#!/usr/bin/env bash
# Run the whole test suite the way ROS 2 users do: colcon build + colcon test (pytest, with the
# flake8/pep257/xmllint linters) in a throw-away workspace, then colcon test-result.
# Needs `bash tools/setup.sh` first. Extra arguments go to pytest (e.g. -k spec).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH="$repo/.venv/bin:$PATH"
export MUJOCO_GL=${MUJOCO_GL:-egl}

workspace=$(mktemp -d)
trap 'rm -rf "$workspace"' EXIT
mkdir -p "$workspace/src"
ln -s "$repo" "$workspace/src/ros2_infer"
cd "$workspace"
colcon build --event-handlers console_direct- > build.log 2>&1 || { cat build.log; exit 1; }
pytest_args=(-q -p no:cacheprovider)
if [ "$#" -gt 0 ]; then pytest_args+=("$@"); fi
colcon test --event-handlers console_direct+ --pytest-args "${pytest_args[@]}" || true
# colcon test exits 0 even when tests fail: the verdict is colcon test-result's.
colcon test-result --verbose
