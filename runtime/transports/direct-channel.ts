/**
 * The caller side of direct calls by address (docs/adr/0031-direct-calls-by-address.md): a
 * reply multiplexer (the interface of runtime/nats/reply-mux.ts) that sends unary calls to one
 * actor instance over one TCP connection, many in flight, and falls back to NATS whenever that
 * connection cannot take a call:
 *
 * - not connected yet, or the address failed a moment ago: the call goes over NATS while the
 *   connection is (re)tried in the background, after a backoff that doubles up to 30 s;
 * - the host refused the call (draining, or it does not serve the subject) or said GOAWAY: the
 *   call had not started, so it goes over NATS, to the same subject;
 * - the connection broke with the call sent and unanswered: the host may have run it, so it fails
 *   `unavailable`, as a lost NATS reply would (policies retry it where the method allows).
 *
 * Deadlines are the same deadline queue as over NATS; what the call carries (deadline, metadata,
 * trace context, identity) is the same NATS header block.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { createDeadlineQueue } from "../nats/deadline-queue.ts";
import { type ReplyCall, type ReplyMux, replyMuxOf } from "../nats/reply-mux.ts";
import { type ByteStream, connectTcp } from "../platform/tcp.ts";
import {
  encodeHeaders,
  encodeRequestHead,
  encodeSignal,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameKind,
  FrameMsg,
  parseDirectAddress,
} from "../protocol/direct-frames.ts";
import { credentialsOf, proveIdentity, trustedCaOf } from "../security/direct-auth.ts";

const encoder = new TextEncoder();

export interface DirectChannelOptions {
  /** How long connecting may take before the address counts as failed. */
  readonly connectTimeoutMs: number;
  /** The first pause before connecting again after a failure; it doubles up to `maxBackoffMs`. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Replies longer than this end the connection. */
  readonly maxFrameBytes: number;
  /**
   * The CA (PEM) that signs the certificates of `tls://` addresses; by default the one the NATS
   * connection was opened with (NATS_CA). None known: such an address is not used.
   */
  readonly caPem: string | undefined;
}

export const defaultDirectChannelOptions: DirectChannelOptions = {
  connectTimeoutMs: 2_000,
  backoffMs: 1_000,
  maxBackoffMs: 30_000,
  maxFrameBytes: 8 * 1024 * 1024,
  caPem: undefined,
};

export interface DirectChannel extends ReplyMux {
  /** `host:port` of the instance. */
  readonly address: string;
  /** Calls sent over TCP, and calls that went over NATS instead, since the start. */
  readonly counts: { readonly direct: number; readonly nats: number };
  /** True while calls go over TCP. */
  readonly connected: boolean;
  /** Why the last connection attempt failed or the last connection ended, if one did. */
  readonly lastFailure: string | undefined;
  /**
   * Connects now unless connected or backing off, and resolves when that attempt is over: true
   * when calls go over TCP, false when they stay on NATS.
   */
  connect(): Promise<boolean>;
  /** Closes the connection; later calls go over NATS. */
  close(): void;
}

interface Sent {
  readonly call: ReplyCall;
  readonly data: Uint8Array;
  readonly hdrs: MsgHdrs | undefined;
}

export function createDirectChannel(
  nc: NatsConnection,
  address: string,
  partial: Partial<DirectChannelOptions> = {},
): DirectChannel {
  const options = { ...defaultDirectChannelOptions, ...partial };
  const parsed = parseDirectAddress(address);
  const caPem = options.caPem ?? trustedCaOf(nc);
  // An address nobody can connect to, or a TLS one without a CA to verify it, leaves every call
  // on NATS.
  const target =
    parsed !== undefined && parsed.port > 0 && (!parsed.tls || caPem !== undefined) ? parsed : undefined;
  const nats = replyMuxOf(nc);
  const pending = new Map<number, Sent>();
  const counts = { direct: 0, nats: 0 };
  let stream: ByteStream | undefined;
  let connecting = false;
  let goneAway = false;
  let closed = false;
  let failures = 0;
  let retryAt = 0;
  let nextId = 1;
  let lastFailure: string | undefined;
  /** Whoever waits for the attempt in progress (connect()). */
  const attemptOver: ((ready: boolean) => void)[] = [];
  const endAttempt = (ready: boolean) => {
    for (const resolve of attemptOver.splice(0)) resolve(ready);
  };

  const settle = (sent: Sent): boolean => {
    if (pending.get(sent.call.token) !== sent) return false;
    pending.delete(sent.call.token);
    deadlines.cancel(sent.call);
    return true;
  };
  const deadlines = createDeadlineQueue<ReplyCall>((call) => {
    const sent = pending.get(call.token);
    if (sent !== undefined && sent.call === call && settle(sent)) {
      call.onError(
        new ConnectError(`no reply from ${call.subject} before the deadline`, Code.DeadlineExceeded),
      );
    }
  });

  const overNats = (call: ReplyCall, data: Uint8Array, hdrs: MsgHdrs | undefined) => {
    counts.nats++;
    nats.request(call, data, hdrs);
  };

  const lost = (error: Error | undefined) => {
    stream = undefined;
    lastFailure = error?.message ?? "closed";
    endAttempt(false);
    if (!closed && !goneAway) {
      failures++;
      retryAt = performance.now() + Math.min(options.maxBackoffMs, options.backoffMs * 2 ** (failures - 1));
    }
    goneAway = false;
    const reason = error === undefined ? "closed" : error.message;
    for (const sent of [...pending.values()]) {
      if (!settle(sent)) continue;
      sent.call.onError(
        new ConnectError(
          `the direct connection to ${address} ended (${reason}) before ${sent.call.subject} answered`,
          Code.Unavailable,
        ),
      );
    }
  };

  const onFrame = (frame: Frame) => {
    if (frame.kind === FrameKind.goAway) {
      goneAway = true;
      if (pending.size === 0) stream?.end();
      return;
    }
    const sent = pending.get(frame.id);
    if (sent === undefined || !settle(sent)) return; // a late answer to a call that gave up
    if (frame.kind === FrameKind.reply) sent.call.onReply(new FrameMsg(frame));
    else if (frame.kind === FrameKind.refused) redirect(sent);
    if (goneAway && pending.size === 0) stream?.end();
  };

  /** A call the host did not start goes over NATS, if its time allows. */
  const redirect = (sent: Sent) => {
    try {
      overNats(sent.call, sent.data, sent.hdrs);
    } catch (err) {
      sent.call.onError(ConnectError.from(err, Code.Unavailable));
    }
  };

  /**
   * Connects, then waits for the host's HELLO: calls may follow at once, or once the caller has
   * proved its NATS user (AUTH) and the host said WELCOME. Until then calls go over NATS.
   */
  const connectNow = () => {
    if (target === undefined || connecting || closed) return;
    connecting = true;
    const decoder = new FrameDecoder(options.maxFrameBytes);
    let ready = false;
    let failure: Error | undefined;
    const fail = (opened: ByteStream, error: Error) => {
      failure ??= error;
      opened.destroy();
      if (stream === opened) lost(error);
    };
    const becomeReady = (opened: ByteStream) => {
      ready = true;
      connecting = false;
      if (closed) {
        opened.destroy();
        return;
      }
      failures = 0;
      stream = opened;
      endAttempt(true);
    };
    const tls = target.tls && caPem !== undefined ? { caPem } : undefined;
    connectTcp(
      target.host,
      target.port,
      options.connectTimeoutMs,
      (opened) => ({
        onData(chunk) {
          let frames: Frame[];
          try {
            frames = decoder.push(chunk);
          } catch (err) {
            fail(opened, err instanceof FrameError ? err : new Error(String(err)));
            return;
          }
          for (const frame of frames) {
            if (ready) {
              onFrame(frame);
            } else if (frame.kind === FrameKind.hello) {
              if (frame.id === 0) {
                becomeReady(opened);
                continue;
              }
              // The host asks who is calling: the user this connection to NATS was opened as.
              const own = credentialsOf(nc);
              if (own === undefined) {
                // No credentials to show: the calls stay on NATS.
                fail(
                  opened,
                  new Error("the host asks for a proof of identity and this connection has no creds"),
                );
                continue;
              }
              const proof = encoder.encode(JSON.stringify(proveIdentity(own, frame.payload)));
              opened.write(encodeSignal(FrameKind.auth, 0, proof));
            } else if (frame.kind === FrameKind.welcome) {
              becomeReady(opened);
            }
          }
        },
        onClose(error) {
          if (stream === opened) lost(error);
          else if (!ready) {
            connecting = false;
            lost(failure ?? error ?? new Error("the host ended the connection before it was ready"));
          }
        },
      }),
      tls,
    ).catch((err: unknown) => {
      connecting = false;
      lost(err instanceof Error ? err : new Error(String(err)));
    });
  };

  return {
    address,
    counts,
    get connected() {
      return stream !== undefined && !goneAway;
    },
    get lastFailure() {
      return lastFailure;
    },
    connect() {
      if (stream !== undefined && !goneAway) return Promise.resolve(true);
      if (!connecting && (target === undefined || closed || performance.now() < retryAt)) {
        return Promise.resolve(false);
      }
      const over = new Promise<boolean>((resolve) => attemptOver.push(resolve));
      connectNow();
      return over;
    },
    request(call, data, hdrs) {
      if (stream === undefined || goneAway) {
        if (stream === undefined && performance.now() >= retryAt) connectNow();
        overNats(call, data, hdrs);
        return;
      }
      const id = nextId;
      nextId = nextId >= 0xffff_ffff ? 1 : nextId + 1;
      call.token = id;
      const sent: Sent = { call, data, hdrs };
      pending.set(id, sent);
      deadlines.schedule(call);
      if (!stream.write(encodeRequestHead(id, call.subject, encodeHeaders(hdrs), data.length))) {
        // The connection is closing (its close event is on its way): not sent, so NATS takes it.
        settle(sent);
        overNats(call, data, hdrs);
        return;
      }
      stream.write(data);
      counts.direct++;
    },
    forget(call) {
      const sent = pending.get(call.token);
      if (sent !== undefined && sent.call === call) settle(sent);
      else nats.forget(call);
    },
    close() {
      closed = true;
      stream?.end();
    },
  };
}
