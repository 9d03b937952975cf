/**
 * The first JSON log line of a child process (a Troupe process logs one JSON object per line)
 * whose `msg` is `msg`, seen already or still to come; rejects when the process exits first.
 */
import type { ChildProcess } from "../../runtime/platform/spawn-process.ts";

export function logLine(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  const find = () =>
    child
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === msg);
  return new Promise((resolve, reject) => {
    const check = () => {
      const line = find();
      if (line === undefined) return false;
      stop();
      resolve(line);
      return true;
    };
    const stop = child.onOutput(check);
    if (check()) return;
    void child.exited.then((status) => {
      if (!check())
        reject(new Error(`exited (${JSON.stringify(status)}) before "${msg}":\n${child.output()}`));
    });
  });
}
