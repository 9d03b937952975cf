/**
 * The skeleton of every server process of the benchmark: reads `--nats-url`, starts the peer's
 * server, tells the driver where to reach it (a "ready" line with the runtime's name), and stops
 * cleanly on SIGTERM/SIGINT. A failure to start exits non-zero with the error on stderr.
 *
 *   <runtime> bench/gateway/peers/<server>.ts --nats-url nats://127.0.0.1:4333
 */
import { parseArgs } from "node:util";
import { runtimeLabel } from "../rpc/runtime-label.ts";
import { writeChildLine } from "./child-line.ts";

export interface RunningPeer {
  /** What the load generator (or the next server) connects to. */
  readonly target: string;
  close(): Promise<void>;
}

export async function servePeer(start: (natsUrl: string) => Promise<RunningPeer>): Promise<void> {
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
  writeChildLine({ kind: "ready", target: server.target, runtime: runtimeLabel() });
}
