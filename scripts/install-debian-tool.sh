#!/usr/bin/env bash
# Installs a Debian package that a test or benchmark drives, when its binary is missing:
#   scripts/install-debian-tool.sh PACKAGE BINARY WHY
# As root it runs apt-get; otherwise it says what to run and leaves the choice to you.
set -euo pipefail

package="$1" binary="$2" why="$3"

if [ -x "$binary" ] || command -v "$binary" >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's $package package ($why) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "$package"
    exit 0
fi

cat >&2 <<MESSAGE
$binary is missing; $why needs it. Install it with:
    sudo apt-get update && sudo apt-get install -y $package
MESSAGE
