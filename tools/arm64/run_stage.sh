#!/usr/bin/env bash
# The aarch64 stage: run the ARM test selection on real aarch64 wheels under user-mode QEMU.
#
# Builds (once, then cached) an arm64 Debian bookworm root filesystem with debootstrap, installs
# the pinned aarch64 wheels of tools/arm64/requirements.txt into it, copies the package fresh
# (so the code under test is this checkout's), mounts proc/sys/dev into it and runs pytest on the
# selection inside `chroot`, with qemu-aarch64 emulating a Raspberry Pi 4 CPU (cortex-a72) and
# the chroot seeing a Pi 4 /proc/cpuinfo. Needs root. See docs/arm64.md.
#
#   sudo bash tools/arm64/run_stage.sh            # the selection below
#   sudo bash tools/arm64/run_stage.sh -k fusion  # extra arguments go to pytest
#
# Outside CI a machine that cannot do it (not root, no binfmt_misc, no apt to install QEMU)
# skips the stage with the reason; in CI (CI=true) that is a failure.
# Environment: ARM64_CACHE (default ~/.cache/ros2_infer/arm64), ARM64_QEMU_CPU (cortex-a72;
# cortex-a76 for a Pi 5, with ARM64_CPUINFO=tools/arm64/cpuinfo-pi5), ARM64_MIRROR,
# ARM64_KEEP_ROOTFS=1 (keep other cached root filesystems).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
stage_start=$(date +%s)

SELECTION=(test/test_arm64_parity.py test/test_arm64_cli.py test/test_arm64_pi_profile.py
           test/test_no_torch.py)
SUITE=bookworm
ROOTFS_VERSION=1   # bump when the way the root filesystem is built changes
mirror=${ARM64_MIRROR:-http://deb.debian.org/debian}
qemu_cpu=${ARM64_QEMU_CPU:-cortex-a72}
cpuinfo=${ARM64_CPUINFO:-$here/cpuinfo-pi4}
cache=${ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ros2_infer/arm64}
requirements=$here/requirements.txt

say() { echo "arm64 stage: $*"; }
skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "arm64 stage: FAILED: $* (CI=true: the aarch64 stage is required)" >&2
    exit 1
  fi
  echo "arm64 stage: SKIPPED: $*" >&2
  exit 0
}

if [ "$(uname -m)" = aarch64 ]; then
  say 'this machine is aarch64 already: running the selection natively'
  cd "$repo"
  python=python3
  [ -x .venv/bin/python ] && python=.venv/bin/python
  exec "$python" -m pytest -p no:cacheprovider -q -rs "${SELECTION[@]}" "$@"
fi
[ "$(uname -m)" = x86_64 ] || skip_or_fail "unsupported host architecture $(uname -m)"
if [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
  exec sudo -n -E bash "$0" "$@"   # passwordless sudo (CI runners): root for the mounts
fi
[ "$(id -u)" -eq 0 ] \
  || skip_or_fail 'needs root (debootstrap, chroot, mounts): sudo bash tools/arm64/run_stage.sh'

# ---- host tools: QEMU user mode, binfmt_misc, debootstrap ----------------------------------
missing=()
command -v debootstrap > /dev/null || missing+=(debootstrap)
command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
command -v update-binfmts > /dev/null || missing+=(binfmt-support)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get > /dev/null || skip_or_fail "no apt-get to install ${missing[*]}"
  say "installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" > /dev/null; } \
    || skip_or_fail "apt-get could not install ${missing[*]}"
fi
binfmt=/proc/sys/fs/binfmt_misc
if ! mountpoint -q "$binfmt"; then
  mount -t binfmt_misc binfmt_misc "$binfmt" 2> /dev/null \
    || skip_or_fail "cannot mount binfmt_misc on $binfmt (unprivileged container?)"
fi
[ -e "$binfmt/qemu-aarch64" ] || update-binfmts --import qemu-aarch64 > /dev/null 2>&1 || true
update-binfmts --enable qemu-aarch64 > /dev/null 2>&1 || true
grep -qx enabled "$binfmt/qemu-aarch64" 2> /dev/null \
  || skip_or_fail "qemu-aarch64 is not registered/enabled in $binfmt (update-binfmts)"
# F (fix binary): the kernel opens the interpreter at registration, so it works inside chroot.
grep -q '^flags: .*F' "$binfmt/qemu-aarch64" \
  || skip_or_fail "qemu-aarch64 binfmt entry lacks the F flag (needed inside chroot)"

# ---- the cached root filesystem --------------------------------------------------------------
host_python=python3
[ -x "$repo/.venv/bin/python" ] && host_python=$repo/.venv/bin/python
"$host_python" -m pip --version > /dev/null 2>&1 || skip_or_fail "no pip for $host_python"
key=$( { echo "$SUITE $ROOTFS_VERSION"; grep -v '^#' "$requirements"; } | sha256sum | cut -c1-12)
root=$cache/rootfs-$key
mkdir -p "$cache"
exec 9> "$cache/lock"
flock 9   # one stage at a time per cache

# A directory may only be deleted when nothing is mounted inside it: a bind-mounted /dev in a
# deleted tree takes the host's device nodes with it.
mounts_under() { findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1'; }
unmount_all() {
  local target
  for target in $(mounts_under "$1" | sort -r); do
    umount "$target" 2> /dev/null || umount -l "$target" 2> /dev/null || true
  done
}
safe_rm() {
  unmount_all "$1"
  if [ -n "$(mounts_under "$1")" ]; then
    echo "arm64 stage: refusing to delete $1: still mounted: $(mounts_under "$1")" >&2
    return 1
  fi
  rm -rf --one-file-system "$1"
}

build_rootfs() {
  local partial=$root.partial t0 t1
  safe_rm "$partial"
  t0=$(date +%s)
  say "building the arm64 $SUITE root filesystem in $partial (debootstrap) ..."
  debootstrap --arch=arm64 --variant=minbase --include=python3,ca-certificates \
    "$SUITE" "$partial" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; say 'debootstrap failed'; return 1; }
  t1=$(date +%s)
  say "debootstrap: $((t1 - t0)) s; installing the aarch64 wheels ..."
  # The host's pip fetches and unpacks the wheels for the target (no emulation needed; the
  # .pyc files it compiles are valid there too: same CPython 3.11 bytecode). --no-deps: the
  # requirements list is the complete, pinned environment.
  "$host_python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp \
    --abi cp311 --abi abi3 --abi none --target "$partial/opt/deps" -r "$requirements" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) \
    || { say 'pip could not install the aarch64 wheels'; return 1; }
  # (set -e does not apply inside a function called from `||`: every step checks itself.)
  printf '#!/bin/sh\nexec python3 -m ros2_infer.cli.main "$@"\n' \
    > "$partial/usr/local/bin/ros2-infer" && chmod 755 "$partial/usr/local/bin/ros2-infer" \
    && rm -rf "$partial/var/cache/apt/archives/"*.deb && mv "$partial" "$root" || return 1
  say "root filesystem ready in $(( $(date +%s) - t0 )) s ($(du -sh "$root" | cut -f1))"
}

if [ -x "$root/usr/bin/python3" ] && [ -d "$root/opt/deps/torch" ]; then
  say "cached root filesystem $root"
else
  build_rootfs || skip_or_fail 'could not build the arm64 root filesystem (network?)'
fi
if [ "${ARM64_KEEP_ROOTFS:-0}" != 1 ]; then
  for old in "$cache"/rootfs-*; do
    [ "$old" = "$root" ] || [ ! -d "$old" ] || safe_rm "$old"
  done
fi

# ---- this checkout, fresh ----------------------------------------------------------------------
unmount_all "$root"   # left over from a killed run
rm -rf --one-file-system "$root/opt/ros2_infer"
mkdir -p "$root/opt/ros2_infer"
tar -C "$repo" --exclude=__pycache__ -cf - ros2_infer test config launch setup.cfg \
  | tar -C "$root/opt/ros2_infer" -xf -

# ---- mounts (always undone, also on failure or Ctrl-C) -------------------------------------
cleanup() {
  unmount_all "$root"
  if [ -n "$(mounts_under "$root")" ]; then
    echo "arm64 stage: WARNING: still mounted under $root: $(mounts_under "$root")" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount -t proc proc "$root/proc"
# QEMU 7.2 shows the host's x86 /proc/cpuinfo; onnxruntime's cpuinfo then crashes on import.
mount --bind "$cpuinfo" "$root/proc/cpuinfo"
mount -t sysfs -o ro sysfs "$root/sys"
# A private /dev (never a bind of the host's): only the nodes Python and the wheels need.
mount -t tmpfs -o mode=755,size=1m,nosuid arm64dev "$root/dev"
for node in 'null 1 3' 'zero 1 5' 'full 1 7' 'random 1 8' 'urandom 1 9' 'tty 5 0'; do
  read -r name major minor <<< "$node"
  mknod -m 666 "$root/dev/$name" c "$major" "$minor"
done
mkdir -p "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o size=1g,nosuid,nodev arm64shm "$root/dev/shm"
mount -t tmpfs -o size=2g,nosuid,nodev arm64tmp "$root/tmp"

report=/tmp/arm64_parity.json
say "pytest under qemu-aarch64 (QEMU_CPU=$qemu_cpu, $(qemu-aarch64-static --version | head -1 \
  | sed 's/qemu-aarch64 version //')), selection: ${SELECTION[*]}${*:+ $*}"
test_start=$(date +%s)
set +e
# QEMU_CPU must reach the interpreter that binfmt starts: it is in chroot's environment.
env -i QEMU_CPU="$qemu_cpu" PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  PYTHONPATH=/opt/ros2_infer:/opt/deps ROS2_INFER_PARITY_REPORT="$report" \
  ROS2_INFER_EXPECT_MACHINE=aarch64 PYTHONDONTWRITEBYTECODE=1 \
  /usr/sbin/chroot "$root" /bin/sh -c 'cd /opt/ros2_infer && exec python3 -m pytest \
    -p no:cacheprovider -q -rs --durations=5 "$@"' pytest "${SELECTION[@]}" "$@"
status=$?
set -e
test_s=$(( $(date +%s) - test_start ))
if [ -f "$root$report" ]; then
  cp "$root$report" "$cache/last_parity.json"
  "$host_python" "$here/print_parity.py" "$root$report" || true
fi
say "pytest exit status $status; tests ${test_s} s, whole stage $(( $(date +%s) - stage_start )) s"
exit "$status"
