#!/usr/bin/env bash
# Set this machine up for MoneyPrinter: system tools, uv, the project's virtualenv (.venv) and the
# web page's build (web/dist). With --tests, also what only the tests need: Debian's Chromium for
# the browser tests, PgBouncer for the pooler test, socat and iproute2 for the tests that run
# hosts as network namespaces. Safe to run again: each step is skipped when its result is already
# there.
# `make setup` runs it; `make test` runs it with --tests.
set -euo pipefail
cd "$(dirname "$0")/.."

for_tests=0
for arg in "$@"; do
    case "$arg" in
        --tests) for_tests=1 ;;
        *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
    esac
done

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

# --- Node.js builds the web page (Vite 7's engines: Node.js ^20.19 or >= 22.12) ----------------------
node_is_recent() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
        && node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                    process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1)'
}
node_is_recent || apt_install nodejs npm || true

# --- Chromium, for the browser tests only ------------------------------------------------------------
if [ "$for_tests" -eq 1 ] && [ ! -x /usr/bin/chromium ] && ! apt_install chromium; then
    say "the browser tests need Debian's Chromium: sudo apt-get install -y chromium"
fi
if [ "$for_tests" -eq 1 ] && ! command -v pgbouncer >/dev/null 2>&1 \
    && [ ! -x /usr/sbin/pgbouncer ] && ! apt_install pgbouncer; then
    say "the PgBouncer test needs it: sudo apt-get install -y pgbouncer"
fi
# ip (iproute2) makes the tests' hosts, socat forwards ports to them (tests/support/netns.py)
netns_missing=()
command -v socat >/dev/null 2>&1 || [ -x /usr/bin/socat ] || netns_missing+=(socat)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || netns_missing+=(iproute2)
if [ "$for_tests" -eq 1 ] && [ "${#netns_missing[@]}" -gt 0 ] \
    && ! apt_install "${netns_missing[@]}"; then
    say "the network-namespace tests need: sudo apt-get install -y ${netns_missing[*]}"
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

# --- the web page -----------------------------------------------------------------------------------
# npm ci only when package-lock.json changed since the last install; the build only when a source
# is newer than it. Without Node.js the API still runs and `/` leads to the API docs.
if node_is_recent; then
    if [ ! -f web/node_modules/.package-lock.json ] \
        || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
        say "installing the web page's packages (npm ci)"
        (cd web && npm ci --no-audit --no-fund --loglevel=error)
    fi
    if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/public web/index.html \
            web/package-lock.json web/vite.config.ts web/tsconfig.json -newer web/dist/index.html \
            2>/dev/null | head -n 1)" ]; then
        say "building the web page (web/dist)"
        (cd web && npm run --silent build)
    fi
else
    say "Node.js 20.19+ or 22.12+ is needed to build the web page: the API runs, / shows the API docs"
    [ "$for_tests" -eq 0 ] || { say "the tests need the web page: install Node.js and npm"; exit 1; }
fi
say "ready: $(.venv/bin/python --version), $("${uv[@]}" --version), web page: $(
    [ -f web/dist/index.html ] && echo built || echo not built)"
