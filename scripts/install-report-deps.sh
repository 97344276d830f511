#!/bin/sh
# Install the Debian packages that `aifactory report` and its test need: Graphviz (`dot`) draws the
# topology; headless Chromium renders the page in tests/reports/test_report.py.
# Idempotent: does nothing when both commands are present. Needs root (or sudo) and apt.
set -eu

missing=""
command -v dot >/dev/null 2>&1 || missing="$missing graphviz"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"

if [ -z "$missing" ]; then
    echo "report dependencies: all present"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "report dependencies: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing fonts-dejavu-core
