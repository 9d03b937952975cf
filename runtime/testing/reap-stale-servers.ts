/**
 * Test servers live in `<tmp>/troupe-nats-<owner pid>-*` directories, named after the test
 * process that owns them (in the name, so no other process can see a directory without its
 * owner), and holding the server's own pid. A test process that was SIGKILLed cannot clean up, so
 * every run first kills the servers and removes the stores of owners that no longer exist.
 */
import { joinPath, listDir, readTextFile, removeDir, tempRoot } from "../platform/files.ts";
import { processAlive, signalProcess } from "../platform/spawn-process.ts";

export const STORE_PREFIX = "troupe-nats-";
export const SERVER_PID_FILE = "server.pid";

/** The prefix of the store directories that a process with this pid creates. */
export function storePrefixFor(ownerPid: number): string {
  return `${STORE_PREFIX}${ownerPid}-`;
}

/** Removes what dead test processes left behind; returns how many stores it removed. */
export function reapStaleServers(root: string = tempRoot()): number {
  let removed = 0;
  for (const entry of listDir(root)) {
    if (!entry.startsWith(STORE_PREFIX)) continue;
    const dir = joinPath(root, entry);
    const owner = Number(entry.slice(STORE_PREFIX.length).split("-")[0]);
    if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) continue;
    const server = Number(readTextFile(joinPath(dir, SERVER_PID_FILE)));
    // Only a nats-server started with this directory's config is ours to kill: pids are reused.
    if (Number.isInteger(server) && server > 0 && commandLineOf(server).includes(dir)) {
      signalProcess(server, "SIGKILL");
    }
    removeDir(dir);
    removed++;
  }
  return removed;
}

function commandLineOf(pid: number): string {
  // Linux exposes it in /proc; elsewhere nothing matches and the server is left to its owner.
  return (readTextFile(`/proc/${pid}/cmdline`) ?? "").replaceAll("\0", " ");
}
