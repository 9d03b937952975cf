/**
 * The Moleculer peer's client: a second Moleculer node on the same nats-server, calling
 * `broker.call("bench.echo", { payload })` (json-echo.ts) once the service is known.
 */
import { startBroker } from "../../shared/moleculer-broker.ts";
import { type JsonEcho, jsonEcho, MOLECULER_ECHO, MOLECULER_SERVICE } from "../json-echo.ts";
import type { PeerClient } from "../peer-client.ts";

export async function connectMoleculerClient(natsUrl: string): Promise<PeerClient> {
  const broker = await startBroker(natsUrl, [], [MOLECULER_SERVICE]);
  return {
    echo: jsonEcho((request) => broker.call<JsonEcho, JsonEcho>(MOLECULER_ECHO, request)),
    close: () => broker.stop(),
  };
}
