import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { reapStaleServers } from "troupe/testing";

test("stores of a dead owner are removed, live owners' stores are kept", () => {
  const root = mkdtempSync(join(tmpdir(), "troupe-reap-"));
  try {
    // A pid far above any real pid_max is never alive.
    const dead = join(root, "troupe-nats-999999999-abc");
    const alive = join(root, `troupe-nats-${process.pid}-def`);
    const unrelated = join(root, "something-else");
    for (const dir of [dead, alive, unrelated]) mkdirSync(dir);
    writeFileSync(join(dead, "server.pid"), "999999998");
    assert.equal(reapStaleServers(root), 1);
    assert.equal(existsSync(dead), false);
    assert.equal(existsSync(alive), true);
    assert.equal(existsSync(unrelated), true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
