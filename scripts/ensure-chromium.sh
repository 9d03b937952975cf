#!/usr/bin/env bash
# Prints the path of a Chromium for the browser test (tests/integration/gateway-browser.test.ts),
# installing Debian's `chromium` package when there is none and this user may (root, or sudo
# without a password). Order: $TROUPE_CHROMIUM, /usr/bin/chromium, chromium on PATH, install.
# Exits 1 with what to do when none can be had.
set -euo pipefail

log() { echo "ensure-chromium: $*" >&2; }

for candidate in "${TROUPE_CHROMIUM:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
  if [[ -n "$candidate" && -x "$candidate" ]]; then
    echo "$candidate"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  log "no Chromium found and no apt-get: install Chromium and set TROUPE_CHROMIUM to its path"
  exit 1
fi
if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  log "no Chromium found: install Debian's chromium package (apt-get install chromium) or set TROUPE_CHROMIUM"
  exit 1
fi

log "installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >&2 ||
  { "${as_root[@]}" apt-get update -qq >&2 && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >&2; }
if [[ -x /usr/bin/chromium ]]; then
  log "using $(/usr/bin/chromium --version 2>/dev/null || echo chromium) at /usr/bin/chromium"
  echo /usr/bin/chromium
  exit 0
fi
log "the chromium package did not provide /usr/bin/chromium"
exit 1
