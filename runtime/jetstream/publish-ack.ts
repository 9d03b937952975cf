/**
 * A JetStream publish that awaits the stream's acknowledgement through the connection's reply
 * multiplexer (runtime/nats/reply-mux.ts) instead of nats.js `js.publish()`. The wire is
 * the same (a publish with a reply subject; the stream answers with a JSON `PubAck` or an API
 * error, https://docs.nats.io/reference/reference-protocols/nats_api_reference), but nats.js
 * builds a `RequestError` and a `TimeoutError` for every request, for their async stack traces,
 * plus a timer: a third of a publishing process's CPU in bench/events. Through the multiplexer
 * a publish costs one small object, as a unary call does.
 *
 * One refusal is not an answer: a clustered stream still storing an earlier publish of the same
 * message id refuses another one ("duplicate message id is in process") until its replicas have
 * applied the first. That message will be stored, so the publish asks again, a few milliseconds
 * later and then less often, until the stream answers with a duplicate ack or the publish's time
 * is up (then `unavailable`, which callers retry; docs/adr/0017-facts-never-expire.md,
 * "Refinements").
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { type ReplyCall, type ReplyMux, replyMuxOf } from "../nats/reply-mux.ts";
import { Header } from "../protocol/headers.ts";
import { isDuplicateInProcess, noStreamTook, publishFailed, stillInProcess } from "./jetstream-errors.ts";

/** The stream's answer to a stored message. */
export interface StoredAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** nats.js's default for JetStream API requests and publishes, when the client names none. */
const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * The pause before asking again about a message id still in process: a replica applies a
 * proposal within milliseconds, so the first pause is short; it doubles up to a quarter second.
 */
function inProcessDelayMs(attempt: number): number {
  return Math.min(250, 5 * 2 ** Math.min(attempt, 6)) * (0.8 + 0.2 * Math.random());
}

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
  if (nc === undefined) return publishThroughClient(js, subject, body, hdrs, timeout);
  return new Promise<StoredAck>((resolve, reject) => {
    const mux = replyMuxOf(nc);
    const call = new PendingPublish(mux, subject, body, hdrs, performance.now() + timeout, resolve, reject);
    try {
      mux.request(call, body, hdrs);
    } catch (err) {
      reject(publishFailed(err, subject, body.byteLength));
    }
  });
}

/** `js.publish()`, for a client without a connection to multiplex on; same retries, same errors. */
async function publishThroughClient(
  js: JetStreamClient,
  subject: string,
  body: Uint8Array,
  hdrs: MsgHdrs,
  timeoutMs: number,
): Promise<StoredAck> {
  const deadline = performance.now() + timeoutMs;
  let inProcess: unknown;
  for (let attempt = 0; ; attempt++) {
    try {
      const timeout = Math.max(1, Math.round(deadline - performance.now()));
      return await js.publish(subject, body, { headers: hdrs, timeout });
    } catch (err) {
      if (!isDuplicateInProcess(err)) {
        const failed = publishFailed(err, subject, body.byteLength);
        // Time ran out while asking again: the id is still in process, as the stream last said.
        if (inProcess !== undefined && failed.code === Code.DeadlineExceeded) {
          throw stillInProcess(subject, hdrs.get(Header.natsMsgId), inProcess);
        }
        throw failed;
      }
      inProcess = err;
      const delayMs = inProcessDelayMs(attempt);
      if (performance.now() + delayMs >= deadline) {
        throw stillInProcess(subject, hdrs.get(Header.natsMsgId), err);
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/**
 * One publish waiting for its acknowledgement: the multiplexer's map and deadline entry, and what
 * it takes to ask again while an earlier publish of its id is in process.
 */
class PendingPublish implements ReplyCall {
  readonly subject: string;
  readonly deadline: number;
  token = -1;
  index = -1;
  readonly #mux: ReplyMux;
  readonly #body: Uint8Array;
  readonly #hdrs: MsgHdrs;
  readonly #resolve: (ack: StoredAck) => void;
  readonly #reject: (reason: unknown) => void;
  /** How many times the stream said the id was in process, and its last such answer. */
  #inProcess = 0;
  #inProcessCause: JetStreamApiError | undefined;

  constructor(
    mux: ReplyMux,
    subject: string,
    body: Uint8Array,
    hdrs: MsgHdrs,
    deadline: number,
    resolve: (ack: StoredAck) => void,
    reject: (reason: unknown) => void,
  ) {
    this.#mux = mux;
    this.subject = subject;
    this.#body = body;
    this.#hdrs = hdrs;
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
      const error = new JetStreamApiError(answer.error);
      if (isDuplicateInProcess(error)) this.#askAgain(error);
      else this.#reject(publishFailed(error, this.subject, this.#body.byteLength));
    } else if (typeof answer.stream !== "string" || answer.stream === "" || typeof answer.seq !== "number") {
      this.#reject(new ConnectError(`JetStream answered ${this.subject} with an invalid ack`, Code.Internal));
    } else {
      this.#resolve({ stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true });
    }
  }

  onError(error: ConnectError): void {
    this.#reject(this.#translated(error));
  }

  /** The same publish again after a pause, while the publish's time lasts; else `unavailable`. */
  #askAgain(cause: JetStreamApiError): void {
    this.#inProcessCause = cause;
    const delayMs = inProcessDelayMs(this.#inProcess++);
    if (performance.now() + delayMs >= this.deadline) {
      this.#reject(stillInProcess(this.subject, this.#hdrs.get(Header.natsMsgId), cause));
      return;
    }
    setTimeout(() => {
      try {
        this.#mux.request(this, this.#body, this.#hdrs);
      } catch (err) {
        this.#reject(publishFailed(err, this.subject, this.#body.byteLength));
      }
    }, delayMs);
  }

  /** The multiplexer's failures, in the words publishFailed uses for nats.js's own. */
  #translated(error: ConnectError): ConnectError {
    if (error.code === Code.DeadlineExceeded) {
      // The time ran out on an asking-again (its reply was late, or its pause overran): the id
      // is still in process as far as anyone knows, which callers retry.
      if (this.#inProcessCause !== undefined) {
        return stillInProcess(this.subject, this.#hdrs.get(Header.natsMsgId), this.#inProcessCause);
      }
      return new ConnectError(`JetStream did not acknowledge ${this.subject} in time`, Code.DeadlineExceeded);
    }
    // The multiplexer's no-responders failure (the server's 503 status reply): no stream listens.
    if (error.code === Code.Unavailable && error.rawMessage === `no responders on ${this.subject}`) {
      return noStreamTook(this.subject);
    }
    return error;
  }
}
