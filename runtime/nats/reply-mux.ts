/**
 * One reply multiplexer per NATS connection for unary calls: a single wildcard subscription on
 * `<inbox prefix>.<nuid>.*`, a map from reply token to the waiting call, and one deadline queue.
 * Compared with nats.js `request()`, a call costs no subscription, no timer and no Error built
 * for an async stack trace (see its `noAsyncTraces` option): the caller's own call object is
 * the map entry and the deadline entry.
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
import { isNoResponders } from "../protocol/errors.ts";
import { createDeadlineQueue, type DeadlineEntry } from "./deadline-queue.ts";

const noResponders = new WeakSet<ConnectError>();

/** The error of a request nobody was subscribed to: nothing ran, so trying again is safe. */
export function noRespondersError(subject: string): ConnectError {
  const error = new ConnectError(`no responders on ${subject}`, Code.Unavailable);
  noResponders.add(error);
  return error;
}

/** True for an error made by `noRespondersError`. */
export function isNoRespondersError(err: unknown): boolean {
  return err instanceof ConnectError && noResponders.has(err);
}

/** A call waiting for its reply; the mux keeps `token` and `index`. Start both at -1. */
export interface ReplyCall extends DeadlineEntry {
  readonly subject: string;
  token: number;
  onReply(msg: Msg): void;
  onError(error: ConnectError): void;
}

export interface ReplyMux {
  /** Publishes a request whose reply (or failure) goes to `call`; throws if publishing fails. */
  request(call: ReplyCall, data: Uint8Array, hdrs: MsgHdrs | undefined): void;
  /** Forgets a call whose caller gave up; a late reply is dropped. */
  forget(call: ReplyCall): void;
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

/**
 * The inbox prefix the connection was configured with (accounts that restrict subscriptions
 * grant `_INBOX.>` or a custom prefix). The NatsConnection interface does not expose options,
 * the implementation does.
 */
export function inboxPrefixOf(nc: NatsConnection): string {
  return (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix ?? "";
}

function createReplyMux(nc: NatsConnection): ReplyMux {
  // Keyed by number: a small integer key hashes faster than a fresh string per call.
  const pending = new Map<number, ReplyCall>();
  let prefix = "";
  let sub: Subscription | undefined;
  let counter = 0;

  /** Removes a call; true when it was still waiting (so it is the caller's to settle). */
  const settle = (call: ReplyCall): boolean => {
    if (!pending.delete(call.token)) return false;
    deadlines.cancel(call);
    return true;
  };
  const deadlines = createDeadlineQueue<ReplyCall>((call) => {
    if (settle(call)) {
      call.onError(
        new ConnectError(`no reply from ${call.subject} before the deadline`, Code.DeadlineExceeded),
      );
    }
  });

  const failAll = (error: ConnectError, match?: (subject: string) => boolean) => {
    for (const call of [...pending.values()]) {
      if (match !== undefined && !match(call.subject)) continue;
      if (settle(call)) call.onError(error);
    }
  };

  const subscribe = () => {
    prefix = `${createInbox(inboxPrefixOf(nc))}.`;
    const prefixLength = prefix.length;
    const current = nc.subscribe(`${prefix}*`, {
      callback: (err, msg) => {
        if (err !== null) return; // the subscription's end is handled below
        const call = pending.get(Number(msg.subject.slice(prefixLength)));
        if (call === undefined || !settle(call)) return; // late reply to a call that gave up
        if (isNoResponders(msg)) {
          call.onError(noRespondersError(call.subject));
        } else {
          call.onReply(msg);
        }
      },
    });
    sub = current;
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
    request(call, data, hdrs) {
      if (nc.isClosed() || nc.isDraining()) {
        call.onError(new ConnectError("the NATS connection is closed", Code.Unavailable));
        return;
      }
      if (sub === undefined) subscribe();
      call.token = counter++;
      pending.set(call.token, call);
      deadlines.schedule(call);
      try {
        nc.publish(
          call.subject,
          data,
          hdrs === undefined ? { reply: prefix + call.token } : { reply: prefix + call.token, headers: hdrs },
        );
      } catch (err) {
        settle(call);
        throw err;
      }
    },
    forget(call) {
      settle(call);
    },
  };
}
