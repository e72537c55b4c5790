#!/usr/bin/env bash
# Install wrk, the HTTP load generator the API benchmark drives (Debian's package `wrk`).
# As root it installs with apt-get; otherwise it prints the command. Safe to run again.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    echo "bench/api/setup: wrk is installed ($(command -v wrk))"
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench/api/setup: installing wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends wrk
    exit 0
fi
echo "bench/api/setup: wrk is missing: install it with: sudo apt-get install -y wrk" >&2
exit 1
