#!/usr/bin/env bash
# Install what tests/test_frame_html.py and tests/test_frame_cli.py need to open
# metric_frame.html in a real headless browser: Debian's chromium and its matching
# chromedriver (Selenium is pointed at /usr/bin/chromium and /usr/bin/chromedriver and
# never downloads a browser). Idempotent: does nothing when both are installed.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)

if [ "${#need[@]}" -eq 0 ]; then
    echo "install_chromium: already installed: $(chromium --version 2>/dev/null | head -1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "install_chromium: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
echo "install_chromium: installed: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version | head -1)"
