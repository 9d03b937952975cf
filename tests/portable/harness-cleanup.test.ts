/**
 * A test process that is interrupted leaves no nats-server and no store behind: SIGINT and
 * SIGTERM run the exit hooks; after a SIGKILL, the next run's reaper removes the orphan.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { reapStaleServers } from "troupe/testing";

const HOLDER = join(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "..",
  "support",
  "hold-server.ts",
);

/** The command that runs a .ts file on the runtime running this test. */
function runtimeArgs(file: string): string[] {
  if (process.versions.deno !== undefined) return ["run", "--allow-all", file];
  return [file];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startHolder() {
  const child = spawn(process.execPath, runtimeArgs(HOLDER), { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const owned = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line));
    });
    child.once("exit", () => reject(new Error(`holder exited before its server was ready: ${out}`)));
  });
  assert.ok(alive(owned.pid), "the holder's server runs");
  assert.ok(existsSync(owned.dir), "the holder's store exists");
  return { child, exited, owned };
}

/** Waits for a process that is not our child to disappear. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
  return !alive(pid);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`${signal} to a test process stops its servers and removes their stores`, {
    timeout: 30_000,
  }, async () => {
    const { child, exited, owned } = await startHolder();
    child.kill(signal);
    const status = await exited;
    assert.notEqual(status.code, 0, "the interrupted process does not report success");
    assert.ok(await gone(owned.pid), "the server was stopped");
    assert.equal(existsSync(owned.dir), false, "the store was removed");
  });
}

test("after a SIGKILL, the next run reaps the orphaned server and store", { timeout: 30_000 }, async () => {
  const { child, exited, owned } = await startHolder();
  child.kill("SIGKILL");
  await exited;
  assert.ok(alive(owned.pid), "a SIGKILLed owner cannot clean up by itself");
  assert.ok(reapStaleServers() >= 1);
  assert.ok(await gone(owned.pid), "the orphan was killed");
  assert.equal(existsSync(owned.dir), false, "its store was removed");
});
