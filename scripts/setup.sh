#!/usr/bin/env bash
# Set this machine up for MoneyPrinter: system tools, uv, and the project's virtualenv (.venv).
# Safe to run again: each step is skipped when its result is already there. `make setup` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python comes from the system (3.11+); uv must never try to download one.
export UV_PYTHON_DOWNLOADS=never
# The uv installed when there is none (any recent uv reads uv.lock; this one wrote it).
UV_VERSION="0.13.9"

say() { printf 'setup: %s\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
    # Only the root user on a Debian-like system installs on its own; everyone else is told how.
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "installing $*"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@"
        return 0
    fi
    return 1
}

has_dejavu_font() {
    [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] \
        || { command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi 'DejaVu Sans'; }
}

# --- system tools: ffmpeg renders, espeak-ng speaks, DejaVu Sans draws the subtitles -------------
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
has_dejavu_font || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -gt 0 ] && ! apt_install "${missing[@]}"; then
    say "missing system packages: ${missing[*]}"
    say "  install them with: sudo apt-get install -y ${missing[*]}"
    say "  (without them: ffmpeg comes from the imageio-ffmpeg wheel, videos are silent without"
    say "  espeak-ng, and subtitles use whatever font fontconfig picks)"
fi

# --- uv -------------------------------------------------------------------------------------------
if command -v uv >/dev/null 2>&1; then
    uv=(uv)
elif python3 -m uv --version >/dev/null 2>&1; then
    uv=(python3 -m uv)
else
    if ! python3 -m pip --version >/dev/null 2>&1 && ! apt_install python3-pip; then
        say "neither uv nor pip is installed: install one (sudo apt-get install -y python3-pip)"
        exit 1
    fi
    say "installing uv $UV_VERSION with pip"
    # Debian marks its Python as externally managed (PEP 668); uv is a self-contained binary, so
    # installing it next to the system's packages is harmless. Older pips ignore these variables.
    pip_args=(--quiet --disable-pip-version-check)
    is_root || pip_args+=(--user)
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
        python3 -m pip install "${pip_args[@]}" "uv==$UV_VERSION"
    # `python3 -m uv` works wherever pip put the `uv` script, on PATH or not.
    uv=(python3 -m uv)
fi

# --- the project ----------------------------------------------------------------------------------
# --frozen: install exactly what uv.lock says, never re-resolve (the lock is committed).
"${uv[@]}" sync --frozen --quiet
say "ready: $(.venv/bin/python --version), $("${uv[@]}" --version)"
