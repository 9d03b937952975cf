#!/usr/bin/env bash
# Finds a nats-server new enough for Troupe (>= 2.11, see docs/design.md "The server is new enough,
# or we say so") and prints its path on the last line of stdout.
#
# Order: $TROUPE_NATS_SERVER, the project's .troupe/bin/nats-server, nats-server on PATH.
# When none is new enough on a Debian-family machine, it downloads the current `nats-server`
# package of Debian's unstable suite with `apt-get download` into a private apt state under
# .troupe/ (the mirror is taken from this machine's apt sources; the archive signature is checked
# against the Debian archive keyring; no root needed) and unpacks only the binary into
# .troupe/bin. Anywhere else it says how to get one. It never falls back to an older server.
set -euo pipefail

MIN_VERSION="2.11.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/.troupe/bin"
keyring="/usr/share/keyrings/debian-archive-keyring.gpg"

log() { printf 'ensure-nats-server: %s\n' "$*" >&2; }

# version_of BINARY -> "2.12.1" (empty when it does not run)
version_of() {
  "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p' | head -n 1
}

# new_enough VERSION -> exit 0 when VERSION >= MIN_VERSION
new_enough() {
  [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$MIN_VERSION" "$1" | sort -V | head -n 1)" = "$MIN_VERSION" ]
}

try() {
  local candidate="$1" version
  [ -n "$candidate" ] && [ -x "$candidate" ] || return 1
  version="$(version_of "$candidate")"
  if new_enough "$version"; then
    log "using nats-server $version at $candidate"
    printf '%s\n' "$candidate"
    exit 0
  fi
  log "skipping $candidate: version '${version:-unknown}' is older than $MIN_VERSION"
  return 1
}

try "${TROUPE_NATS_SERVER:-}" || true
try "$bin_dir/nats-server" || true
try "$(command -v nats-server 2>/dev/null || true)" || true

how_to_get_one() {
  cat >&2 <<MSG
ensure-nats-server: no nats-server >= $MIN_VERSION found, and this machine cannot fetch one automatically.
Install one, then run this script again (or point TROUPE_NATS_SERVER at the binary):
  - macOS:          brew install nats-server
  - Debian/Ubuntu:  the nats-server package of Debian unstable (sid) or a newer release
  - anywhere:       a release binary of nats-server (v$MIN_VERSION or newer) from the NATS project,
                    unpacked to $bin_dir/nats-server
MSG
  exit 1
}

if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  how_to_get_one
fi
if [ ! -r "$keyring" ]; then
  log "the Debian archive keyring ($keyring) is missing: install the debian-archive-keyring package"
  how_to_get_one
fi

# The first Debian archive mirror (…/debian, not …/debian-security) this machine's apt uses,
# from one-line (.list) or deb822 (.sources) files.
mirror="$(
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v '^[[:space:]]*#' |
    grep -oE '(https?|file)://[^ ]*/debian/?([[:space:]]|$)' |
    head -n 1 | tr -d '[:space:]' | sed 's:/*$::'
)" || true
if [ -z "$mirror" ]; then
  log "no Debian mirror found in /etc/apt/sources.list*"
  how_to_get_one
fi

apt_dir="$root/.troupe/apt"
mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,state,preferences.d,work} "$bin_dir"
: >"$apt_dir/state/status"
printf 'deb [signed-by=%s] %s unstable main\n' "$keyring" "$mirror" >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
  -o "Dir::State=$apt_dir/state"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::status=$apt_dir/state/status"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=$(id -un)"
  -o "Acquire::Languages=none"
)

log "fetching the nats-server package of Debian unstable from $mirror"
# apt-get update verifies the suite's InRelease signature against the keyring named in
# sources.list; apt-get download then verifies the .deb against the signed Packages hashes.
apt-get "${apt_opts[@]}" -q update >&2
candidate="$(apt-cache "${apt_opts[@]}" policy nats-server | sed -n 's/^ *Candidate: *//p')"
if ! new_enough "${candidate%%-*}"; then
  log "Debian unstable offers nats-server '${candidate:-none}', older than $MIN_VERSION"
  how_to_get_one
fi
rm -rf "$apt_dir/work" && mkdir -p "$apt_dir/work"
(cd "$apt_dir/work" && apt-get "${apt_opts[@]}" -q download "nats-server=$candidate" >&2)
deb="$(ls "$apt_dir/work"/nats-server_*.deb)"
dpkg-deb -x "$deb" "$apt_dir/work/root"
install -m 0755 "$apt_dir/work/root/usr/sbin/nats-server" "$bin_dir/nats-server"
rm -rf "$apt_dir/work" "$apt_dir/cache/archives"/*.deb

try "$bin_dir/nats-server" || true
log "the downloaded nats-server does not run or is too old"
exit 1
