/**
 * The peers of the events benchmark. Each loads lazily, so a measuring process loads only its
 * own peer's code.
 */
import type { OpenEventsPeer } from "./events-peer.ts";

export const PEER_NAMES = ["raw", "troupe"] as const;
export type PeerName = (typeof PEER_NAMES)[number];

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
};

export function isPeerName(name: string): name is PeerName {
  return (PEER_NAMES as readonly string[]).includes(name);
}
