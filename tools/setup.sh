#!/usr/bin/env bash
# Install everything ros2_infer needs on Debian/Ubuntu: apt packages, a virtual environment in
# .venv, PyTorch for this CPU architecture, and the package with all extras (editable).
# Re-running is cheap: pip skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=''
if [ "$(id -u)" -ne 0 ]; then sudo_cmd='sudo'; fi
python=${PYTHON:-python3}

# EGL/OSMesa: MuJoCo renders the simulated camera on the CPU. libxml2-utils: xmllint test.
# chromium: the demo report is checked in a real headless browser by the tests.
apt_packages=(libegl1 libegl-mesa0 libosmesa6 libgl1 libxml2-utils chromium)
if ! "$python" -m venv --help > /dev/null 2>&1; then apt_packages+=(python3-venv); fi
if command -v apt-get > /dev/null; then
  missing=()
  for package in "${apt_packages[@]}"; do
    dpkg -s "$package" > /dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "apt: installing ${missing[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" > /dev/null
  fi
else
  echo "no apt-get: install EGL or OSMesa and libxml2-utils yourself" >&2
fi

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "ros2_infer needs Python >= 3.10 (found $("$python" --version))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip 'setuptools<80' wheel  # colcon's ament_python build needs < 80

# torch is installed first and explicitly: the versions known to work on each architecture.
case "$(uname -m)" in
  aarch64|arm64) torch=(torch==2.9.1 torchvision==0.24.1) ;;
  *) torch=(torch==2.14.1 torchvision==0.29.1) ;;
esac
.venv/bin/python -c "import torch, torchvision" > /dev/null 2>&1 || "${pip[@]}" "${torch[@]}"
"${pip[@]}" -e '.[torch,sim,train,fusion,report,test]' colcon-common-extensions ament-lint-flake8 \
  ament-lint-pep257 ament-xmllint catkin_pkg
echo "ros2_infer installed in $(pwd)/.venv"
