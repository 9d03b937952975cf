/**
 * The skeleton of every benchmark server process: reads `--nats-url`, starts the peer's server,
 * tells the driver where to reach it (a "ready" line with the runtime's name), and stops cleanly
 * on SIGTERM/SIGINT. A failure to start exits non-zero with the error on stderr.
 *
 *   <runtime> bench/<benchmark>/peers/<server>.ts --nats-url nats://127.0.0.1:4333
 */
import { parseArgs } from "node:util";
import { type ReadyLine, writeChildLine } from "./child-line.ts";
import { runtimeLabel } from "./runtime-label.ts";

export interface RunningPeer {
  /** What the client, the load generator or the next server connects to: a NATS or http URL. */
  readonly target: string;
  close(): Promise<void>;
}

export type StartPeer = (natsUrl: string) => Promise<RunningPeer>;

export async function servePeer(start: StartPeer): Promise<void> {
  const { values } = parseArgs({ options: { "nats-url": { type: "string" } } });
  const natsUrl = values["nats-url"];
  if (natsUrl === undefined) throw new Error("--nats-url is required");
  const server = await start(natsUrl);
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const ready: ReadyLine = { kind: "ready", target: server.target, runtime: runtimeLabel() };
  writeChildLine(ready);
}
