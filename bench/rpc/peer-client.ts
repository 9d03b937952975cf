/**
 * What the client process needs from each peer kind: a connection to its server that makes
 * Echo calls of a given size. Each call checks that the echo came back whole, so a peer cannot
 * look fast by answering with nothing.
 */

/** Makes one Echo call; resolves when the whole response has arrived. */
export type EchoCall = () => Promise<void>;

export interface PeerClient {
  /** A call function for requests whose encoded EchoRequest is `sizeBytes` long. */
  echo(sizeBytes: number): EchoCall;
  close(): Promise<void>;
}

/** Connects a peer's client to `target` (the URL its server reported when ready). */
export type ConnectPeerClient = (target: string) => Promise<PeerClient>;

/** Throws unless a response carried as many bytes as its request. */
export function checkEcho(sentBytes: number, receivedBytes: number): void {
  if (receivedBytes !== sentBytes) {
    throw new Error(`echo of ${sentBytes} bytes came back with ${receivedBytes}`);
  }
}
