/**
 * What the measuring process needs from each peer: a way to publish one event and a way to
 * consume events with a no-op handler, acknowledging each. Both check the payload size, so a
 * peer cannot look fast by moving nothing.
 */

/** Publishes one event with the i-th key of KEYS; resolves on the stream's acknowledgement. */
export type PublishEvent = (keyIndex: number) => Promise<void>;

export interface RunningConsume {
  /** Rejects when the consume loop fails; resolves if it ends (before `stop()`, it should not). */
  readonly ended: Promise<void>;
  /** Stops pulling; resolves once the loop has ended. */
  stop(): Promise<void>;
}

/**
 * Where a peer's events are kept (a JetStream stream, a RabbitMQ queue), and the work around a
 * measurement that is not itself measured.
 */
export interface EventStore {
  /** Deletes the store if it exists and creates it empty. */
  fresh(): Promise<void>;
  /** The number of events it holds. */
  messages(): Promise<number>;
  /** Resolves once the server has taken the ack of each of the `count` events stored. */
  waitAllAcked(count: number, timeoutMs: number): Promise<void>;
  /** Deletes the store with what it holds; nothing when there is none. */
  remove(): Promise<void>;
}

export interface EventsPeer {
  readonly store: EventStore;
  /** A publish function for events whose encoded EchoRequest is `sizeBytes` long. */
  publisher(sizeBytes: number): PublishEvent;
  /**
   * Starts consuming the store's events (for JetStream, through the durable consumer of
   * bench-stream.ts), running a handler that does nothing but check the payload size, and
   * acknowledging each event after the handler returns; calls `onHandled` once per event handled.
   */
  consume(sizeBytes: number, onHandled: () => void): Promise<RunningConsume>;
  close(): Promise<void>;
}

/** Connects a peer to the nats-server at `natsUrl` (or to its own broker). */
export type OpenEventsPeer = (natsUrl: string) => Promise<EventsPeer>;

/** Throws unless an event carried the payload it was published with. */
export function checkPayload(expectedBytes: number, receivedBytes: number): void {
  if (receivedBytes !== expectedBytes) {
    throw new Error(`event of ${expectedBytes} bytes arrived with ${receivedBytes}`);
  }
}
