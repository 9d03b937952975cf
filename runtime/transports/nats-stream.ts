/**
 * The client side of a streaming call (server, client or bidi streaming), run by the NATS
 * transport under Connect's `runStreamingCall`. The opener goes to the method subject, where the
 * actor's queue group picks one instance; that instance answers `open` from its own call inbox
 * and every later frame goes there, so the call stays pinned to it. The response resolves with
 * the server's first message or end (which carry the response headers); the caller's messages
 * are sent as the server grants credit, and the server's are read within the credit this side
 * grants as its reader consumes. Protocol: docs/adr/0006-rpc-streams.md.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { getAbortSignalReason } from "@connectrpc/connect/protocol";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { createCallInbox, publishFrame, subscribeCallInbox } from "../nats/call-inbox.ts";
import { contentTypeOf, decodeMessage, encodeMessage } from "../protocol/codec.ts";
import { isNoResponders } from "../protocol/errors.ts";
import { StreamFrame } from "../protocol/headers.ts";
import { metadataOf } from "../protocol/metadata.ts";
import { decodeFrame, type Frame } from "../protocol/stream-frames.ts";
import { createCreditGate } from "../streams/credit-gate.ts";
import { type IdlePinger, startIdlePinger } from "../streams/idle-pinger.ts";
import { createMessageQueue } from "../streams/message-queue.ts";
import type { StreamContext } from "./stream-context.ts";

/** NATS's default max_payload, for a connection that has not reported its own yet. */
const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

export async function openStream<I extends DescMessage, O extends DescMessage>(
  req: StreamRequest<I, O>,
  ctx: StreamContext,
): Promise<StreamResponse<I, O>> {
  const { nc, codec, codecOptions } = ctx;
  const method = req.method;
  const maxPayloadBytes = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const aborted = () => ConnectError.from(getAbortSignalReason(req.signal), Code.Canceled);
  if (req.signal.aborted) throw aborted();
  if (nc.isClosed()) throw new ConnectError("the NATS connection is closed", Code.Unavailable);

  // Server streaming: the one request message rides in the opener, which also half-closes.
  let requestData: Uint8Array | undefined;
  if (method.methodKind === "server_streaming") {
    const first = await req.message[Symbol.asyncIterator]().next();
    if (first.done === true) {
      throw new ConnectError("a server-streaming call needs one request message", Code.InvalidArgument);
    }
    requestData = encodeMessage(method.input, codec, first.value, codecOptions);
    if (req.signal.aborted) throw aborted();
  }

  return new Promise<StreamResponse<I, O>>((resolve, reject) => {
    const inbox = createCallInbox(nc);
    const sendCredit = createCreditGate(0);
    const trailer = new Headers();
    const messages = createMessageQueue<MessageShape<O>>(ctx.creditWindow, (credit) =>
      trySend({ kind: StreamFrame.credit, credit }),
    );
    let serverInbox: string | undefined;
    let response: StreamResponse<I, O> | undefined;
    let finished = false;
    let pinger: IdlePinger | undefined;
    let openTimer: ReturnType<typeof setTimeout> | undefined;

    const send = (frame: Frame) => {
      if (serverInbox === undefined) return;
      publishFrame(nc, serverInbox, inbox, frame, maxPayloadBytes);
      pinger?.touch();
    };
    const trySend = (frame: Frame) => {
      try {
        send(frame);
      } catch (err) {
        fail(ConnectError.from(err, Code.Unavailable), false);
      }
    };

    const release = () => {
      finished = true;
      clearTimeout(openTimer);
      pinger?.stop();
      sub.unsubscribe();
      req.signal.removeEventListener("abort", onAbort);
      sendCredit.close(new ConnectError("the call is over", Code.Canceled));
    };

    /** Ends the call on this side; `tellServer` sends `cancel` so the handler's signal fires. */
    const fail = (error: ConnectError, tellServer: boolean) => {
      if (finished) return;
      if (tellServer) {
        try {
          send({ kind: StreamFrame.cancel });
        } catch {
          // The server will notice on its own: its frames to our inbox draw a 503.
        }
      }
      release();
      if (response === undefined) reject(error);
      else messages.fail(error);
    };

    const respond = (header: Headers) => {
      response = { stream: true, service: req.service, method, header, trailer, message: messages };
      resolve(response);
    };

    const onAbort = () => fail(aborted(), true);

    const onFrame = (frameMsg: Msg) => {
      if (finished) return;
      if (isNoResponders(frameMsg)) {
        fail(
          new ConnectError(
            serverInbox === undefined
              ? `no responders on ${ctx.subject}`
              : `the server of the call on ${ctx.subject} is gone: its call inbox has no subscriber`,
            Code.Unavailable,
          ),
          false,
        );
        return;
      }
      let frame: Frame;
      try {
        frame = decodeFrame(frameMsg);
      } catch (err) {
        fail(protocolError(`an invalid stream frame: ${(err as Error).message}`), true);
        return;
      }
      switch (frame.kind) {
        case StreamFrame.open:
          if (serverInbox !== undefined || frameMsg.reply === undefined || frameMsg.reply === "") {
            fail(protocolError("an open frame without a call inbox, or a second one"), true);
            return;
          }
          serverInbox = frameMsg.reply;
          clearTimeout(openTimer);
          sendCredit.grant(frame.credit);
          pinger = startIdlePinger(ctx.idleTimeoutMs, () => trySend({ kind: StreamFrame.ping }));
          if (requestData === undefined) void sendRequests();
          return;
        case StreamFrame.message: {
          if (serverInbox === undefined) {
            fail(protocolError("a message before the open frame"), false);
            return;
          }
          let message: MessageShape<O>;
          try {
            message = decodeMessage(method.output, codec, frame.data, codecOptions);
          } catch (err) {
            fail(protocolError(`an invalid message: ${(err as Error).message}`), true);
            return;
          }
          if (response === undefined) respond(metadataOf(frameMsg.headers).header);
          try {
            messages.push(frame.seq, message);
          } catch (err) {
            fail(ConnectError.from(err), true);
          }
          return;
        }
        case StreamFrame.end: {
          release();
          if (response === undefined) respond(frame.header ?? new Headers());
          frame.trailer?.forEach((value, name) => {
            trailer.append(name, value);
          });
          try {
            messages.end(frame.seq, frame.error);
          } catch (err) {
            messages.fail(err);
          }
          return;
        }
        case StreamFrame.credit:
          sendCredit.grant(frame.credit);
          return;
        case StreamFrame.ping:
          return;
        default:
          fail(protocolError(`an unexpected "${frame.kind}" frame`), true);
      }
    };

    /** Client and bidi streaming: the caller's messages, one credit each, then the half-close. */
    const sendRequests = async () => {
      const it = req.message[Symbol.asyncIterator]();
      let seq = 0;
      try {
        for (;;) {
          await sendCredit.take();
          const next = await it.next();
          if (finished) return;
          if (next.done === true) break;
          send({
            kind: StreamFrame.message,
            seq: seq + 1,
            data: encodeMessage(method.input, codec, next.value, codecOptions),
          });
          seq++;
        }
        send({ kind: StreamFrame.end, seq });
      } catch (err) {
        fail(ConnectError.from(err), true);
      }
    };

    let sub: Subscription;
    try {
      sub = subscribeCallInbox(nc, inbox, onFrame, (error) => fail(error, false));
    } catch (err) {
      finished = true;
      reject(new ConnectError(`cannot subscribe a call inbox: ${String(err)}`, Code.Unavailable));
      return;
    }
    req.signal.addEventListener("abort", onAbort);
    // No `open` within the idle timeout: the instance that took the opener died before answering.
    openTimer = setTimeout(
      () =>
        fail(
          new ConnectError(
            `no instance opened the call on ${ctx.subject} within ${ctx.idleTimeoutMs} ms`,
            Code.Unavailable,
          ),
          false,
        ),
      ctx.idleTimeoutMs,
    );
    try {
      publishFrame(
        nc,
        ctx.subject,
        inbox,
        {
          kind: StreamFrame.open,
          credit: ctx.creditWindow,
          header: req.header,
          timeoutMs: ctx.timeoutMs === undefined ? undefined : Math.max(1, Math.ceil(ctx.timeoutMs)),
          contentType: codec === "json" ? contentTypeOf("json") : undefined,
          data: requestData,
        },
        maxPayloadBytes,
      );
    } catch (err) {
      fail(ConnectError.from(err, Code.Unavailable), false);
    }
  });
}

/** The server broke the protocol: `internal`, as Connect clients report an unreadable response. */
function protocolError(what: string): ConnectError {
  return new ConnectError(`the server sent ${what}`, Code.Internal);
}
