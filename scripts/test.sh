#!/usr/bin/env bash
# The test command (README, CI): the static checks (scripts/check.sh), the whole suite on Bun,
# then the portable set (tests/portable) on Deno and on Node LTS, each against its own disposable
# nats-servers (scripts/ensure-nats-server.sh) and, for the gateway's browser test on Bun,
# headless Chromium (scripts/ensure-chromium.sh). Ends with one line, `N passed, N failed`, summed from the runs' JUnit reports (a
# failed check counts as one failure); exits non-zero on any failure.
#
#   npm test                 # everything
#   npm test -- bun node     # some legs: check, bun, deno, node
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=node_modules/.bin
legs=("${@:-check bun deno node}")
legs=(${legs[*]})

nats_server="$(bash scripts/ensure-nats-server.sh)" || exit 1
export TROUPE_NATS_SERVER="$nats_server"
# The Bun leg includes the browser test of the gateway: it needs a Chromium.
if [[ " ${legs[*]} " == *" bun "* ]]; then
  chromium="$(bash scripts/ensure-chromium.sh)" || exit 1
  export TROUPE_CHROMIUM="$chromium"
fi

reports="$(mktemp -d "${TMPDIR:-/tmp}/troupe-reports-XXXXXX")"
trap 'rm -rf "$reports"' EXIT
summary=()

for leg in "${legs[@]}"; do
  echo "::: $leg"
  case "$leg" in
    check)
      bash scripts/check.sh
      ;;
    bun)
      "$bin/bun" test --timeout 60000 --reporter=junit --reporter-outfile="$reports/bun.xml"
      ;;
    deno)
      "$bin/deno" test --allow-all --reporter=dot --junit-path="$reports/deno.xml" tests/portable/
      ;;
    node)
      "$bin/node" --test --test-reporter=dot --test-reporter-destination=stdout \
        --test-reporter=junit --test-reporter-destination="$reports/node.xml" \
        'tests/portable/**/*.test.ts'
      ;;
    *)
      echo "unknown leg '$leg' (check, bun, deno or node)" >&2
      exit 2
      ;;
  esac
  summary+=("$leg=$reports/$leg.xml:$?")
done

echo ":::"
exec "$bin/node" scripts/junit-summary.ts "${summary[@]}"
