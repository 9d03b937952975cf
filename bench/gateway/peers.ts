/**
 * The peers of the gateway benchmark: the server processes the driver starts for each (in
 * order; the last one's "ready" target is what the load generator calls), and the protocol
 * the load generator speaks to it. "moleculer" and "nestjs" are the frameworks a user might pick
 * instead of Troupe, each an HTTP process in front of a service over NATS, like the gateway peer.
 */
export const PEER_NAMES = [
  "gateway",
  "hono",
  "connect",
  "moleculer",
  "nestjs",
  "gateway-bun-serve",
  "hono-bun-serve",
] as const;
export type PeerName = (typeof PEER_NAMES)[number];
/** The frameworks one would pick instead of Troupe: asked for by name. */
export const FRAMEWORK_PEERS: readonly PeerName[] = ["moleculer", "nestjs"];
/**
 * What-if peers, Bun only and asked for by name: the gateway's handler and the Hono baseline on
 * `Bun.serve`, to measure what the HTTP server costs (a configuration Troupe does not offer).
 */
export const BUN_SERVE_PEERS: readonly PeerName[] = ["gateway-bun-serve", "hono-bun-serve"];

/** `http1`: autocannon, REST `GET /v1/products/{id}`; `h2`: Connect unary over HTTP/2. */
export type LoadProtocol = "http1" | "h2";

export interface Peer {
  /** How the tables name it. */
  readonly label: string;
  /** Server entry files, relative to this directory, started in this order. */
  readonly servers: readonly string[];
  readonly protocol: LoadProtocol;
}

export const PEERS: Readonly<Record<PeerName, Peer>> = {
  gateway: {
    label: "gateway → NATS → actor",
    servers: ["peers/product-actor.ts", "peers/gateway-server.ts"],
    protocol: "http1",
  },
  hono: { label: "Hono in-process", servers: ["peers/hono-server.ts"], protocol: "http1" },
  connect: { label: "connect-node HTTP/2", servers: ["peers/connect-server.ts"], protocol: "h2" },
  moleculer: {
    label: "moleculer-web → NATS → Moleculer",
    servers: ["peers/moleculer-products.ts", "peers/moleculer-web-server.ts"],
    protocol: "http1",
  },
  nestjs: {
    label: "NestJS HTTP → NATS → Nest microservice",
    servers: ["peers/nestjs-products.ts", "peers/nestjs-http.ts"],
    protocol: "http1",
  },
  "gateway-bun-serve": {
    label: "gateway handler on Bun.serve → NATS → actor",
    servers: ["peers/product-actor.ts", "peers/gateway-bun-serve.ts"],
    protocol: "http1",
  },
  "hono-bun-serve": { label: "Hono on Bun.serve", servers: ["peers/hono-bun-serve.ts"], protocol: "http1" },
};

export function isPeerName(name: string): name is PeerName {
  return (PEER_NAMES as readonly string[]).includes(name);
}
