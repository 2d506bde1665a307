#!/usr/bin/env bash
# The browser the console's end-to-end test drives: Debian's chromium package, never a
# browser build that Playwright would download (the test launches it by its path;
# RELINT_CHROMIUM names another).
set -euo pipefail
exec "$(dirname "$0")/install-debian-tool.sh" chromium "${RELINT_CHROMIUM:-/usr/bin/chromium}" \
    "the console's end-to-end test"
