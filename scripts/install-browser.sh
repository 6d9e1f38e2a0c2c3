#!/usr/bin/env bash
# Installs what the browser test (tests/bot/test_sandbox_browser.py) drives: Debian's Chromium and
# ChromeDriver, and a colour emoji font for readable screenshots. Run by `make test`; does nothing
# when Chromium is already there. Needs apt-get and root (or passwordless sudo); without them it
# says so and that one test is skipped (or point TUNEBOT_CHROMIUM at a Chromium binary).
set -euo pipefail
if [ -n "${TUNEBOT_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
    exit 0
fi
packages=(chromium chromium-driver fonts-noto-color-emoji)
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install Chromium for the browser test (it is skipped)" >&2
    exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! sudo -n true 2>/dev/null; then
        echo "install-browser: run 'sudo apt-get install ${packages[*]}' for the browser test (skipped)" >&2
        exit 0
    fi
    sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing ${packages[*]} for the browser test …"
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null \
    || { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; }
chromium --version
