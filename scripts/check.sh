#!/usr/bin/env bash
# Static checks, each reported on its own line; exits non-zero when any fails.
#   tsc        strict type check of everything (tsconfig.json)
#   deno       `deno check` of the entry points Deno runs
#   biome      lint and format (no writes; `npm run format` fixes)
#   buf-lint   the contracts in proto/
#   generated  proto/gen and runtime/gen are exactly what `npm run generate` makes
#   jsr        the package stays publishable to JSR (`deno publish --dry-run` in runtime/)
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
  "$bin/buf" generate --template runtime/buf.gen.yaml || return 1
  # Compared with the index, so staged regenerated code counts as current.
  local drift
  drift="$(git diff --stat -- proto/gen runtime/gen; git ls-files --others --exclude-standard -- proto/gen runtime/gen)"
  if [ -n "$drift" ]; then
    echo "proto/gen differs from what 'buf generate' makes (run npm run generate and commit):"
    echo "$drift"
    return 1
  fi
}

deno_entry_points=(runtime/mod.ts runtime/*/mod.ts runtime/*/*/mod.ts)
for dir in actors/*/; do [ -f "$dir/main.ts" ] && deno_entry_points+=("$dir/main.ts"); done

check tsc "$bin/tsc" -p .
check deno "$bin/deno" check --quiet --conditions=troupe-source "${deno_entry_points[@]}"
check biome "$bin/biome" ci --reporter=summary .
check buf-lint "$bin/buf" lint
check generated generated_is_current
check jsr bash -c 'cd runtime && ../node_modules/.bin/deno publish --dry-run --allow-dirty --quiet' 

if [ ${#failed[@]} -gt 0 ]; then
  echo "checks failed: ${failed[*]}"
  exit 1
fi
