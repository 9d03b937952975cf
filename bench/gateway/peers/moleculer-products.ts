/**
 * The service behind the moleculer-web peer: a Moleculer node (shared/moleculer-broker.ts: the
 * NATS transporter on the driver's nats-server, Moleculer's defaults) with a service `products`
 * whose action `get` answers the shared handler's proto3 JSON (product-json.ts), or Moleculer's
 * 404 error for an unknown id. Its "ready" target is the NATS URL it serves on.
 */
import { type Context, Errors } from "moleculer";
import { startBroker } from "../../shared/moleculer-broker.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { MOLECULER_PRODUCTS, type ProductRequest, productJson } from "../product-json.ts";

await servePeer(async (natsUrl) => {
  const broker = await startBroker(natsUrl, [
    {
      name: MOLECULER_PRODUCTS,
      actions: {
        get(ctx: Context<ProductRequest>) {
          const answer = productJson({ id: ctx.params.id });
          if (answer === null) throw new Errors.MoleculerClientError("product not found", 404, "NOT_FOUND");
          return answer;
        },
      },
    },
  ]);
  return { target: natsUrl, close: () => broker.stop() };
});
