import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { TROUPE_VERSION } from "troupe";

test("the version reported in discovery is the troupe package's", () => {
  const root = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
  const pkg = JSON.parse(readFileSync(join(root, "runtime", "package.json"), "utf8")) as { version: string };
  assert.equal(TROUPE_VERSION, pkg.version);
});
