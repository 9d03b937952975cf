/**
 * One reply multiplexer per NATS connection for unary calls: a single wildcard subscription on
 * `<inbox prefix>.<nuid>.*`, a map from reply token to the waiting call, and one deadline queue.
 * Compared with nats.js `request()`, a call costs no subscription, no timer and no Error built
 * for an async stack trace (see its `noAsyncTraces` option) — only a map entry and a promise.
 *
 * Failures are ConnectErrors: no responders (the NATS server's 503 status reply) is
 * `unavailable` at once; an expired deadline is `deadline_exceeded`; a permissions violation on
 * the request subject is `permission_denied`; a closed connection is `unavailable`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  PermissionViolationError,
  type Subscription,
} from "@nats-io/nats-core";
import { createDeadlineQueue, type DeadlineEntry } from "../resilience/deadline-queue.ts";

/** What a pending call hears back: the reply message, or why there is none. */
export interface ReplyHandler {
  onReply(msg: Msg): void;
  onError(error: ConnectError): void;
}

export interface ReplyMux {
  /**
   * Publishes a request and routes its reply to `handler`. `deadline` is a `performance.now()`
   * time. Returns a function that forgets the call (for a caller that gave up).
   */
  request(
    subject: string,
    data: Uint8Array,
    hdrs: MsgHdrs | undefined,
    deadline: number,
    handler: ReplyHandler,
  ): () => void;
}

interface Pending {
  readonly subject: string;
  readonly handler: ReplyHandler;
  entry: DeadlineEntry | undefined;
}

const NO_RESPONDERS = 503;

/**
 * The inbox prefix the connection was configured with (accounts that restrict subscriptions
 * grant `_INBOX.>` or a custom prefix). The NatsConnection interface does not expose options,
 * the implementation does.
 */
function inboxPrefixOf(nc: NatsConnection): string {
  return (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix ?? "";
}
const muxes = new WeakMap<NatsConnection, ReplyMux>();

/** The connection's multiplexer, created on first use. */
export function replyMuxOf(nc: NatsConnection): ReplyMux {
  let mux = muxes.get(nc);
  if (mux === undefined) {
    mux = createReplyMux(nc);
    muxes.set(nc, mux);
  }
  return mux;
}

function createReplyMux(nc: NatsConnection): ReplyMux {
  const pending = new Map<string, Pending>();
  const deadlines = createDeadlineQueue();
  let prefix = "";
  let sub: Subscription | undefined;
  let counter = 0;

  const settle = (token: string): Pending | undefined => {
    const call = pending.get(token);
    if (call === undefined) return undefined;
    pending.delete(token);
    if (call.entry !== undefined) deadlines.cancel(call.entry);
    return call;
  };

  const failAll = (error: ConnectError, match?: (subject: string) => boolean) => {
    for (const [token, call] of [...pending]) {
      if (match !== undefined && !match(call.subject)) continue;
      settle(token);
      call.handler.onError(error);
    }
  };

  const subscribe = () => {
    prefix = `${createInbox(inboxPrefixOf(nc))}.`;
    const prefixLength = prefix.length;
    sub = nc.subscribe(`${prefix}*`, {
      callback: (err, msg) => {
        if (err !== null) return; // the subscription's end is handled below
        const call = settle(msg.subject.slice(prefixLength));
        if (call === undefined) return; // late reply to a call that already gave up
        if (msg.headers?.code === NO_RESPONDERS) {
          call.handler.onError(new ConnectError(`no responders on ${call.subject}`, Code.Unavailable));
        } else {
          call.handler.onReply(msg);
        }
      },
    });
    const current = sub;
    current.closed.then(
      () => {
        if (sub === current) sub = undefined;
        failAll(new ConnectError("the reply subscription closed", Code.Unavailable));
      },
      (err: unknown) => {
        if (sub === current) sub = undefined;
        const denied = err instanceof PermissionViolationError;
        failAll(
          new ConnectError(
            denied ? `not permitted to subscribe to ${prefix}*` : `reply subscription failed: ${String(err)}`,
            denied ? Code.PermissionDenied : Code.Unavailable,
          ),
        );
      },
    );
  };

  // Permission violations arrive asynchronously as server errors naming the subject.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== "error") continue;
      const error = status.error;
      if (error instanceof PermissionViolationError && error.operation === "publish") {
        failAll(
          new ConnectError(`not permitted to publish to ${error.subject}`, Code.PermissionDenied),
          (subject) => subject === error.subject,
        );
      }
    }
  })().catch(() => {});
  void nc.closed().then(() => failAll(new ConnectError("the NATS connection is closed", Code.Unavailable)));

  return {
    request(subject, data, hdrs, deadline, handler) {
      if (nc.isClosed() || nc.isDraining()) {
        handler.onError(new ConnectError("the NATS connection is closed", Code.Unavailable));
        return () => {};
      }
      if (sub === undefined) subscribe();
      const token = (counter++).toString(36);
      const call: Pending = { subject, handler, entry: undefined };
      pending.set(token, call);
      call.entry = deadlines.add(deadline, () => {
        call.entry = undefined;
        if (settle(token) !== undefined) {
          handler.onError(
            new ConnectError(`no reply from ${subject} before the deadline`, Code.DeadlineExceeded),
          );
        }
      });
      try {
        nc.publish(
          subject,
          data,
          hdrs === undefined ? { reply: prefix + token } : { reply: prefix + token, headers: hdrs },
        );
      } catch (err) {
        settle(token);
        throw err;
      }
      return () => {
        settle(token);
      };
    },
  };
}
