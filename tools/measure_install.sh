#!/usr/bin/env bash
# Measures installs of this repository as a newcomer gets them (BENCHMARKS.md, "Install size and
# time"): for each install spec, a fresh venv, `pip install SPEC` from a clean checkout of COMMIT
# (no build cache carried over), the size of site-packages, then the README's run command
# `edge-veda g2p hello world` with an empty EDGE_VEDA_HOME (g2p-en's first-use compile included).
#
#   tools/measure_install.sh [REPO [COMMIT [SPEC...]]]
#       REPO    a git repository (default: this one); COMMIT (default: HEAD)
#       SPEC    what to pip install, relative to the checkout (default: "." ".[compile]" ".[kokoro]")
#
# Prints one line per install: spec, site-packages MB, pip install seconds, run seconds, and the
# run's exit status, plus the CPU. Needs python3 with venv, a C/C++ compiler and network access
# to PyPI. Each install builds libedge_veda from source (minutes on 2 cores).
set -euo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
commit=${2:-HEAD}
shift $(( $# > 2 ? 2 : $# ))
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=("." ".[compile]" ".[kokoro]")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/src" && git -C "$work/src" checkout -q "$commit"  # committed files only

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; commit $(git -C "$work/src" rev-parse --short HEAD)"
printf '%-14s %10s %12s %10s %4s\n' spec site-MB install-s run-s rc
for spec in "${specs[@]}"; do
  venv="$work/venv"
  rm -rf "$venv" "$work/home"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  t0=$(date +%s.%N)
  (cd "$work/src" && "$venv/bin/pip" install -q --no-cache-dir "$spec" >"$work/pip.log" 2>&1) \
    || { echo "$spec: pip install failed, see below"; tail -20 "$work/pip.log"; exit 1; }
  t1=$(date +%s.%N)
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  mb=$(du -sm "$site" | cut -f1)
  rc=0
  t2=$(date +%s.%N)
  (cd "$work" && EDGE_VEDA_HOME="$work/home" "$venv/bin/edge-veda" g2p hello world >/dev/null 2>&1) || rc=$?
  t3=$(date +%s.%N)
  printf '%-14s %10s %12.0f %10.1f %4s\n' "$spec" "$mb" "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)" "$rc"
done
