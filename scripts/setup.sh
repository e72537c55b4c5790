#!/usr/bin/env bash
# Sets up a fresh machine for MoneyPrinter: system packages (ffmpeg, fonts, espeak-ng), uv, and the
# Python environment from the lock file. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(ffmpeg fonts-dejavu-core espeak-ng)
UV_VERSION="0.13.9"

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: please install ${missing[*]} with your system's package manager" >&2
    exit 1
  fi
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv $UV_VERSION"
  python3 -m pip install --quiet "uv==$UV_VERSION"
fi

# Never download a Python: use the machine's (3.11 or newer).
export UV_PYTHON_DOWNLOADS=never
uv sync --frozen --quiet
echo "setup: ready (.venv)"
