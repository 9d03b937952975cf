/**
 * Echo server for the Moleculer peer: a Moleculer node (shared/moleculer-broker.ts: the NATS
 * transporter on the driver's nats-server, Moleculer's defaults) with a service `bench` whose
 * action `echo` returns its params unchanged (json-echo.ts has what they carry).
 */
import type { Context } from "moleculer";
import { startBroker } from "../../shared/moleculer-broker.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { type JsonEcho, MOLECULER_SERVICE } from "../json-echo.ts";

await servePeer(async (natsUrl) => {
  const broker = await startBroker(natsUrl, [
    { name: MOLECULER_SERVICE, actions: { echo: (ctx: Context<JsonEcho>): JsonEcho => ctx.params } },
  ]);
  return { target: natsUrl, close: () => broker.stop() };
});
