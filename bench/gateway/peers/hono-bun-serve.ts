/**
 * hono-server.ts's app on `Bun.serve`, the server Hono's own documentation uses on Bun, instead
 * of the gateway's HTTP server: the in-process baseline at its fastest on Bun. Bun only.
 */
import { bunServe } from "../../shared/bun-serve.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { productHonoApp } from "../product-hono-app.ts";

await servePeer(async () => {
  const app = productHonoApp();
  const server = bunServe((request) => app.fetch(request));
  return { target: server.url, close: () => server.stop() };
});
