/**
 * A JetStream publish that awaits the stream's acknowledgement through the connection's reply
 * multiplexer (runtime/transports/reply-mux.ts) instead of nats.js `js.publish()`. The wire is
 * the same (a publish with a reply subject; the stream answers with a JSON `PubAck` or an API
 * error, https://docs.nats.io/reference/reference-protocols/nats_api_reference), but nats.js
 * builds a `RequestError` and a `TimeoutError` for every request, for their async stack traces,
 * plus a timer: a third of a publishing process's CPU in bench/events. Through the multiplexer
 * a publish costs one small object, as a unary call does.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { type ReplyCall, replyMuxOf } from "../transports/reply-mux.ts";
import { noStreamTook, publishFailed } from "./jetstream-errors.ts";

/** The stream's answer to a stored message. */
export interface StoredAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** nats.js's default for JetStream API requests and publishes, when the client names none. */
const DEFAULT_TIMEOUT_MS = 5_000;

const timeouts = new WeakMap<JetStreamClient, number>();

/** The acknowledgement timeout the client was created with (`jetstream(nc, { timeout })`). */
function timeoutOf(js: JetStreamClient): number {
  let timeoutMs = timeouts.get(js);
  if (timeoutMs === undefined) {
    timeoutMs = js.getOptions().timeout ?? DEFAULT_TIMEOUT_MS;
    timeouts.set(js, timeoutMs);
  }
  return timeoutMs;
}

/**
 * The connection under a JetStream client. nats.js's `JetStreamClient` type does not expose it,
 * its implementation does; a client without one is published through `js.publish()`.
 */
function connectionOf(js: JetStreamClient): NatsConnection | undefined {
  return (js as { nc?: NatsConnection }).nc;
}

/**
 * Publishes `body` to `subject` and resolves with the stream's acknowledgement; rejects with
 * the ConnectError of jetstream-errors.ts `publishFailed`.
 */
export function publishWithAck(
  js: JetStreamClient,
  subject: string,
  body: Uint8Array,
  hdrs: MsgHdrs,
  timeoutMs: number | undefined,
): Promise<StoredAck> {
  const nc = connectionOf(js);
  const timeout = timeoutMs ?? timeoutOf(js);
  if (nc === undefined) {
    return js.publish(subject, body, { headers: hdrs, timeout }).catch((err: unknown) => {
      throw publishFailed(err, subject, body.byteLength);
    });
  }
  return new Promise<StoredAck>((resolve, reject) => {
    const call = new PendingPublish(subject, body.byteLength, performance.now() + timeout, resolve, reject);
    try {
      replyMuxOf(nc).request(call, body, hdrs);
    } catch (err) {
      reject(publishFailed(err, subject, body.byteLength));
    }
  });
}

/** One publish waiting for its acknowledgement: the multiplexer's map and deadline entry. */
class PendingPublish implements ReplyCall {
  readonly subject: string;
  readonly deadline: number;
  token = -1;
  index = -1;
  readonly #bytes: number;
  readonly #resolve: (ack: StoredAck) => void;
  readonly #reject: (reason: unknown) => void;

  constructor(
    subject: string,
    bytes: number,
    deadline: number,
    resolve: (ack: StoredAck) => void,
    reject: (reason: unknown) => void,
  ) {
    this.subject = subject;
    this.#bytes = bytes;
    this.deadline = deadline;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  onReply(msg: Msg): void {
    let answer: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: ConstructorParameters<typeof JetStreamApiError>[0];
    };
    try {
      answer = msg.json();
    } catch (err) {
      this.#reject(
        new ConnectError(
          `JetStream answered ${this.subject} with an unreadable ack`,
          Code.Internal,
          undefined,
          undefined,
          err,
        ),
      );
      return;
    }
    if (answer.error !== undefined) {
      this.#reject(publishFailed(new JetStreamApiError(answer.error), this.subject, this.#bytes));
    } else if (typeof answer.stream !== "string" || answer.stream === "" || typeof answer.seq !== "number") {
      this.#reject(new ConnectError(`JetStream answered ${this.subject} with an invalid ack`, Code.Internal));
    } else {
      this.#resolve({ stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true });
    }
  }

  onError(error: ConnectError): void {
    this.#reject(this.#translated(error));
  }

  /** The multiplexer's failures, in the words publishFailed uses for nats.js's own. */
  #translated(error: ConnectError): ConnectError {
    if (error.code === Code.DeadlineExceeded) {
      return new ConnectError(`JetStream did not acknowledge ${this.subject} in time`, Code.DeadlineExceeded);
    }
    // The multiplexer's no-responders failure (the server's 503 status reply): no stream listens.
    if (error.code === Code.Unavailable && error.rawMessage === `no responders on ${this.subject}`) {
      return noStreamTook(this.subject);
    }
    return error;
  }
}
