/**
 * A gateway in front of real actors on a real nats-server, for the gateway tests: the product
 * and user actors as the shop runs them, and a stand-in for the inventory actor whose GetStock
 * can be slow ("slow": answers only when its call is cancelled) or fail with an internal error
 * ("boom"). The user actor records the headers of every call it serves, so tests can see what
 * the gateway forwarded. JWTs are signed with a fresh ES256 key pair.
 */
import type { Interceptor } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { connect, defineActor, implement, type RunningActor, serveActor, silentLogger } from "troupe";
import type { GatewayInit, ServeGatewayOptions } from "troupe/gateway";
import { type RunningGateway, serveGateway } from "troupe/gateway";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { productActor } from "../../actors/product/actor.ts";
import { userActor } from "../../actors/user/actor.ts";
import { InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";

export const ISSUER = "https://issuer.test";
export const AUDIENCE = "troupe-shop";

/** A stand-in inventory actor: GetStock answers, waits ("slow") or throws ("boom"). */
const inventoryStandIn = defineActor({
  name: "inventory",
  version: "1.0.0",
  description: "test stand-in",
  serves: [InventoryService],
  services: () => [
    implement(InventoryService, {
      async getStock(req, ctx) {
        if (req.productId === "slow") {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        }
        if (req.productId === "boom") throw new Error("database at 10.1.2.3:5432 refused the password");
        return { stock: { productId: req.productId, onHand: 7n, reserved: 2n, available: 5n } };
      },
      reserveStock: () => ({}),
    }),
  ],
});

export interface GatewayFixture {
  readonly server: NatsServer;
  readonly gateway: RunningGateway;
  readonly url: string;
  /** Headers of the calls the user actor served, most recent last. */
  readonly userCallHeaders: Headers[];
  /** A token for `sub`, signed with the gateway's key; `claims` are added, `expiresIn` defaults to 5 min. */
  token(
    sub: string,
    options?: { claims?: JWTPayload; expiresIn?: string | number; key?: CryptoKey },
  ): Promise<string>;
  /** A key pair the gateway does not trust. */
  readonly strangerKey: CryptoKey;
  /** The public key the gateway verifies tokens with (ES256, PEM SPKI): no secret, anyone may have it. */
  readonly publicKeyPem: string;
  /** Starts another gateway on the same actors (other options), stopped with the fixture. */
  extraGateway(init: Partial<GatewayInit>, serve?: Partial<ServeGatewayOptions>): Promise<RunningGateway>;
  close(): Promise<void>;
}

export async function startGatewayFixture(init: Partial<GatewayInit> = {}): Promise<GatewayFixture> {
  const server = await startNatsServer();
  const connections: NatsConnection[] = [];
  const connection = async () => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };
  const userCallHeaders: Headers[] = [];
  const recordHeaders: Interceptor = (next) => (req) => {
    userCallHeaders.push(new Headers(req.header));
    return next(req);
  };
  const actors: RunningActor[] = [
    await serveActor(await connection(), productActor, { logger: silentLogger }),
    await serveActor(await connection(), userActor, { logger: silentLogger, interceptors: [recordHeaders] }),
    await serveActor(await connection(), inventoryStandIn, { logger: silentLogger }),
  ];
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const stranger = await generateKeyPair("ES256");
  const publicKeyPem = await exportSPKI(publicKey);
  const gatewayNc = await connection();
  const baseInit = (extra: Partial<GatewayInit>): GatewayInit => ({
    nc: gatewayNc,
    services: [ProductService, UserService, InventoryService],
    jwt: { publicKey: publicKeyPem, algorithms: ["ES256"], issuer: ISSUER, audience: AUDIENCE },
    ...init,
    ...extra,
  });
  const gateways: RunningGateway[] = [];
  const start = async (extra: Partial<GatewayInit>, serve: Partial<ServeGatewayOptions> = {}) => {
    const running = await serveGateway(baseInit(extra), {
      port: 0,
      hostname: "127.0.0.1",
      runtime: "test",
      adminPort: 0,
      ...serve,
    });
    gateways.push(running);
    return running;
  };
  const gateway = await start({});
  return {
    server,
    gateway,
    url: gateway.url,
    userCallHeaders,
    strangerKey: stranger.privateKey,
    publicKeyPem,
    token(sub, options = {}) {
      return new SignJWT({ ...options.claims })
        .setProtectedHeader({ alg: "ES256" })
        .setSubject(sub)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? "5m")
        .sign(options.key ?? privateKey);
    },
    extraGateway: start,
    async close() {
      for (const running of gateways) await running.stop(1_000);
      for (const actor of actors) await actor.drain(1_000);
      for (const nc of connections) await nc.close();
      await server.dispose();
    },
  };
}
