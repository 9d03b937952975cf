#!/usr/bin/env bash
# Static checks, each reported on its own line; exits non-zero when any fails.
#   tsc        strict type check of everything (tsconfig.json)
#   deno       `deno check` of the entry points Deno runs
#   biome      lint and format (no writes; `npm run format` fixes)
#   buf-lint   the contracts in proto/
#   generated  proto/gen is exactly what `buf generate` makes from proto/
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=node_modules/.bin
failed=()

check() {
  local name="$1"
  shift
  echo "::: check $name"
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failed+=("$name"); fi
}

generated_is_current() {
  "$bin/buf" generate || return 1
  # Compared with the index, so staged regenerated code counts as current.
  local drift
  drift="$(git diff --stat -- proto/gen; git ls-files --others --exclude-standard -- proto/gen)"
  if [ -n "$drift" ]; then
    echo "proto/gen differs from what 'buf generate' makes (run npm run generate and commit):"
    echo "$drift"
    return 1
  fi
}

deno_entry_points=(runtime/mod.ts runtime/testing.ts)
for dir in actors/*/; do [ -f "$dir/main.ts" ] && deno_entry_points+=("$dir/main.ts"); done

check tsc "$bin/tsc" -p .
check deno "$bin/deno" check --quiet "${deno_entry_points[@]}"
check biome "$bin/biome" ci --reporter=summary .
check buf-lint "$bin/buf" lint
check generated generated_is_current

if [ ${#failed[@]} -gt 0 ]; then
  echo "checks failed: ${failed[*]}"
  exit 1
fi
