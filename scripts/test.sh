#!/usr/bin/env bash
# The test command (README, CI): the static checks (scripts/check.sh), the whole suite on Bun,
# then the portable set (tests/portable) on Deno and on Node LTS, then the chaos suite's short
# profile (tests/chaos/run.ts: the shop under troupe dev, faults, invariants), each against its own disposable
# nats-servers (scripts/ensure-nats-server.sh) and, for the gateway's browser test on Bun,
# headless Chromium (scripts/ensure-chromium.sh). Ends with one line, `N passed, N failed`, summed from the runs' JUnit reports (a
# failed check counts as one failure); exits non-zero on any failure.
#
#   npm test                 # everything
#   npm test -- bun node     # some legs: check, bun, deno, node, chaos
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=node_modules/.bin
legs=("${@:-check bun deno node chaos}")
legs=(${legs[*]})

# Inside this repository `troupe` resolves to its TypeScript sources through the package's
# `troupe-source` export condition (docs/guide/development.md); Bun picks them by its `bun`
# condition, Node and Deno (and every process they start) by these two variables.
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--conditions=troupe-source"
export DENO_CONDITIONS="troupe-source"

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
    chaos)
      # Both topologies, about three minutes; one test case per invariant per topology.
      "$bin/bun" run tests/chaos/run.ts --profile short --topology both --junit "$reports/chaos.xml"
      ;;
    *)
      echo "unknown leg '$leg' (check, bun, deno, node or chaos)" >&2
      exit 2
      ;;
  esac
  summary+=("$leg=$reports/$leg.xml:$?")
done

echo ":::"
exec "$bin/node" scripts/junit-summary.ts "${summary[@]}"
