#!/usr/bin/env bash
# Fuzzes the kernel's parsers for N seconds (default 300): builds two copies of the
# kernel in a scratch directory (the installed one is left alone), a regular one and
# one with AddressSanitizer and UndefinedBehaviorSanitizer, and runs
# tests/native/fuzz_parsers.py (atheris) against each for half the time.
# Usage: bash tests/native/fuzz.sh [seconds]   (from the repository root, venv active
# or .venv present; needs gcc and `pip install atheris`).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-300}"
python="${PYTHON:-.venv/bin/python}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
suffix="$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
build() {  # build OUTPUT EXTRA_FLAGS...: the kernel as a module in the scratch directory
    local output="$1"; shift
    gcc -shared -fPIC -g -std=gnu11 "$@" -I"$include" packages/orderflow/native/_kernel.c \
        -lsqlite3 -o "$output"
}
mkdir -p "$scratch/plain" "$scratch/sanitized"
build "$scratch/plain/_kernel$suffix" -O2
build "$scratch/sanitized/_kernel$suffix" -O1 -fsanitize=address,undefined \
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer
mkdir -p "$scratch/corpus"
# Half the time with the regular build, where atheris sees coverage and grows a
# corpus; half under the sanitizers (whose runtime takes over libFuzzer's coverage
# hooks), starting from that corpus.
ORDERFLOW_FUZZ_KERNEL="$scratch/plain/_kernel$suffix" \
    "$python" tests/native/fuzz_parsers.py -max_total_time="$((seconds / 2))" -rss_limit_mb=4096 \
    -print_final_stats=1 "$scratch/corpus"
ORDERFLOW_FUZZ_KERNEL="$scratch/sanitized/_kernel$suffix" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
    "$python" tests/native/fuzz_parsers.py -max_total_time="$((seconds - seconds / 2))" \
    -rss_limit_mb=4096 -print_final_stats=1 "$scratch/corpus"
