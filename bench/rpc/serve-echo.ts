/**
 * The skeleton of every echo server process: reads `--nats-url`, starts the peer's server,
 * tells the driver where to reach it (a "ready" line), and stops cleanly on SIGTERM/SIGINT.
 * A failure to start exits non-zero with the error on stderr.
 *
 *   <runtime> bench/rpc/peers/<peer>-server.ts --nats-url nats://127.0.0.1:4333
 */
import { parseArgs } from "node:util";
import { writeChildLine } from "./child-line.ts";

export interface RunningServer {
  /** What the client connects to: the NATS URL, or the server's own http URL. */
  readonly target: string;
  close(): Promise<void>;
}

export type StartServer = (natsUrl: string) => Promise<RunningServer>;

export async function serveEcho(start: StartServer): Promise<void> {
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
  writeChildLine({ kind: "ready", target: server.target });
}
