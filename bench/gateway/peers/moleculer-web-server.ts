/**
 * The moleculer-web peer's HTTP side: a second Moleculer node running moleculer-web's
 * `ApiGatewayService` on a free loopback port, with one REST alias, `GET /v1/products/:id` →
 * `products.get` (mapping policy "restrict", so only the alias is exposed), every other setting
 * moleculer-web's default. The call goes over the NATS transporter to the products node.
 */

import type { AddressInfo } from "node:net";
import type { ServiceSchema } from "moleculer";
import ApiGatewayService, { type ApiSettingsSchema } from "moleculer-web";
import { startBroker } from "../../shared/moleculer-broker.ts";
import { servePeer } from "../../shared/serve-peer.ts";
import { MOLECULER_PRODUCTS, MOLECULER_PRODUCTS_GET, PRODUCT_ROUTE } from "../product-json.ts";

await servePeer(async (natsUrl) => {
  const api: ServiceSchema<ApiSettingsSchema> = {
    name: "api",
    mixins: [ApiGatewayService],
    settings: {
      port: 0,
      ip: "127.0.0.1",
      routes: [
        {
          path: "/",
          mappingPolicy: "restrict",
          aliases: { [`GET ${PRODUCT_ROUTE}`]: MOLECULER_PRODUCTS_GET },
        },
      ],
    },
  };
  const broker = await startBroker(natsUrl, [api], [MOLECULER_PRODUCTS]);
  // moleculer-web keeps its node:http server on the service, untyped.
  const server = (broker.getLocalService("api") as unknown as { server: { address(): AddressInfo } }).server;
  return { target: `http://127.0.0.1:${server.address().port}`, close: () => broker.stop() };
});
