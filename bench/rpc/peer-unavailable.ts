/**
 * Thrown by a peer that cannot run yet (the Troupe plugs, until the runtime exports what they
 * need). The child reports it as "not available" and the driver carries on with other peers.
 */
export class PeerUnavailableError extends Error {
  override readonly name = "PeerUnavailableError";
}
