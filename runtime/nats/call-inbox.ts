/**
 * The NATS side of a streaming call, shared by the client (transports/nats-stream.ts) and the
 * server (host/serve-stream.ts): each end of a call has a private inbox that the other end's
 * frames go to, so a call stays pinned to one instance. What a frame holds is the protocol's
 * (protocol/stream-frames.ts, docs/adr/0006-rpc-streams.md); this file puts frames on a connection.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { isPayloadTooLarge } from "../protocol/errors.ts";
import { StreamFrame } from "../protocol/headers.ts";
import { encodeFrame, type Frame } from "../protocol/stream-frames.ts";

/**
 * A fresh call inbox under the connection's inbox prefix (accounts that restrict subscriptions
 * grant `_INBOX.>` or a custom prefix; the NatsConnection interface does not expose options, the
 * implementation does).
 */
export function createCallInbox(nc: NatsConnection): string {
  return createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix ?? "");
}

/**
 * Subscribes a call inbox: frames go to `onFrame`; `onGone` hears when the subscription ends
 * (after the call's own unsubscribe too, so it must be a no-op once the call is over). Throws
 * when the connection cannot subscribe.
 */
export function subscribeCallInbox(
  nc: NatsConnection,
  inbox: string,
  onFrame: (msg: Msg) => void,
  onGone: (error: ConnectError) => void,
): Subscription {
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err === null) onFrame(msg);
    },
  });
  sub.closed.then(
    () => onGone(new ConnectError("the call inbox closed: the NATS connection is gone", Code.Unavailable)),
    (err: unknown) => onGone(ConnectError.from(err, Code.Unavailable)),
  );
  return sub;
}

/**
 * Publishes a frame to `subject` with `reply` (the sender's call inbox, so that the NATS server
 * answers 503 when the subject has no subscriber). A frame above the server's max_payload is
 * `resource_exhausted` naming the limit (frames are never chunked); any other failure to publish
 * (a closed connection) is `unavailable`.
 */
export function publishFrame(
  nc: NatsConnection,
  subject: string,
  reply: string,
  frame: Frame,
  maxPayloadBytes: number,
): void {
  const { headers: hdrs, data } = encodeFrame(frame);
  if (data.length > maxPayloadBytes) throw frameTooLarge(frame, data.length, maxPayloadBytes);
  try {
    nc.publish(subject, data, reply === "" ? { headers: hdrs } : { reply, headers: hdrs });
  } catch (err) {
    // nats.js counts headers too: a payload just under the limit can still exceed it.
    if (isPayloadTooLarge(err)) {
      throw frameTooLarge(frame, data.length, maxPayloadBytes);
    }
    throw new ConnectError(
      `cannot send a stream frame: ${String(err)}`,
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
}

function frameTooLarge(frame: Frame, bytes: number, limit: number): ConnectError {
  const what = frame.kind === StreamFrame.message || frame.kind === StreamFrame.open ? "message" : "frame";
  return new ConnectError(
    `a stream ${what} of ${bytes} bytes exceeds the NATS server's max_payload of ${limit} bytes`,
    Code.ResourceExhausted,
  );
}
