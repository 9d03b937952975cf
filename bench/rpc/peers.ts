/**
 * The peers of the RPC benchmark: for each, the echo server process the driver starts and the
 * client the client process connects. The raw `nc.request` client and the minimal multiplexer
 * share the raw echo server; "tls" and "raw-tls" are the Troupe and raw peers on the driver's
 * second nats-server, whose client port speaks TLS, and "secured" the Troupe peer on a third one
 * that also demands credentials, with the least-privilege user of a declaration (run.ts);
 * "direct" is the Troupe peer called by address over TCP after discovery, and "tcp" a plain TCP
 * echo, its floor; "moleculer" and "nestjs" are the frameworks a user might pick instead of
 * Troupe, on the same nats-server (json-echo.ts). Clients load lazily, so a client process loads
 * only its own peer's code.
 */
import type { ConnectPeerClient } from "./peer-client.ts";

export const PEER_NAMES = [
  "raw",
  "mux",
  "connect",
  "troupe",
  "policies",
  "tls",
  "raw-tls",
  "secured",
  "direct",
  "tcp",
  "moleculer",
  "nestjs",
] as const;
/** The peers that run against one of the driver's TLS nats-servers. */
export const TLS_PEERS: readonly PeerName[] = ["tls", "raw-tls", "secured"];
export type PeerName = (typeof PEER_NAMES)[number];
/** The frameworks one would pick instead of Troupe: asked for by name, like the TLS peers. */
export const FRAMEWORK_PEERS: readonly PeerName[] = ["moleculer", "nestjs"];

export interface Peer {
  /** How the tables name it. */
  readonly label: string;
  /** The server's entry file, relative to this directory. */
  readonly serverFile: string;
  readonly loadClient: () => Promise<ConnectPeerClient>;
}

export const PEERS: Readonly<Record<PeerName, Peer>> = {
  raw: {
    label: "raw nc.request",
    serverFile: "peers/raw-server.ts",
    loadClient: async () => (await import("./peers/raw-client.ts")).connectRawClient,
  },
  mux: {
    label: "minimal mux",
    serverFile: "peers/raw-server.ts",
    loadClient: async () => (await import("./peers/mux-client.ts")).connectMuxClient,
  },
  connect: {
    label: "Connect HTTP/2",
    serverFile: "peers/connect-server.ts",
    loadClient: async () => (await import("./peers/connect-client.ts")).connectConnectClient,
  },
  troupe: {
    label: "Troupe",
    serverFile: "peers/troupe-server.ts",
    loadClient: async () => (await import("./peers/troupe-client.ts")).connectTroupeClient,
  },
  policies: {
    label: "Troupe + policies",
    serverFile: "peers/troupe-server.ts",
    loadClient: async () => (await import("./peers/policies-client.ts")).connectPoliciesClient,
  },
  tls: {
    label: "Troupe over TLS",
    serverFile: "peers/troupe-server.ts",
    loadClient: async () => (await import("./peers/troupe-client.ts")).connectTroupeClient,
  },
  "raw-tls": {
    label: "raw over TLS",
    serverFile: "peers/raw-server.ts",
    loadClient: async () => (await import("./peers/raw-client.ts")).connectRawClient,
  },
  secured: {
    label: "Troupe, credentials + TLS",
    serverFile: "peers/troupe-server.ts",
    loadClient: async () => (await import("./peers/troupe-client.ts")).connectTroupeClient,
  },
  direct: {
    label: "Troupe by address",
    serverFile: "peers/direct-server.ts",
    loadClient: async () => (await import("./peers/direct-client.ts")).connectDirectClient,
  },
  tcp: {
    label: "TCP echo",
    serverFile: "peers/tcp-echo-server.ts",
    loadClient: async () => (await import("./peers/tcp-echo-client.ts")).connectTcpEchoClient,
  },
  moleculer: {
    label: "Moleculer",
    serverFile: "peers/moleculer-server.ts",
    loadClient: async () => (await import("./peers/moleculer-client.ts")).connectMoleculerClient,
  },
  nestjs: {
    label: "NestJS",
    serverFile: "peers/nestjs-server.ts",
    loadClient: async () => (await import("./peers/nestjs-client.ts")).connectNestjsClient,
  },
};

export function isPeerName(name: string): name is PeerName {
  return (PEER_NAMES as readonly string[]).includes(name);
}
