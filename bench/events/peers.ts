/**
 * The peers of the events benchmark. "troupe-sync" is the Troupe peer on a second nats-server of
 * the driver that syncs every JetStream write to disk (run.ts), so that its durability matches
 * RabbitMQ's confirms; "rabbitmq" is RabbitMQ through amqplib, on the broker this machine runs.
 * Each loads lazily, so a measuring process loads only its own peer's code.
 */
import type { OpenEventsPeer } from "./events-peer.ts";

export const PEER_NAMES = ["raw", "troupe", "troupe-sync", "rabbitmq"] as const;
export type PeerName = (typeof PEER_NAMES)[number];
/** The peers a user might pick instead, and Troupe on equal durability: asked for by name. */
export const DURABLE_PEERS: readonly PeerName[] = ["troupe-sync", "rabbitmq"];

export interface Peer {
  /** How the tables name it. */
  readonly label: string;
  readonly load: () => Promise<OpenEventsPeer>;
}

export const PEERS: Readonly<Record<PeerName, Peer>> = {
  raw: {
    label: "raw JetStream",
    load: async () => (await import("./peers/raw.ts")).openRawPeer,
  },
  troupe: {
    label: "Troupe",
    load: async () => (await import("./peers/troupe.ts")).openTroupePeer,
  },
  "troupe-sync": {
    label: "Troupe, fsync every write",
    load: async () => (await import("./peers/troupe.ts")).openTroupePeer,
  },
  rabbitmq: {
    label: "RabbitMQ (amqplib)",
    load: async () => (await import("./peers/rabbitmq.ts")).openRabbitmqPeer,
  },
};

export function isPeerName(name: string): name is PeerName {
  return (PEER_NAMES as readonly string[]).includes(name);
}
