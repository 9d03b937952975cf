/**
 * The server side of a streaming call (server, client or bidi streaming), after the host has
 * matched the caller's opener to a method: this instance answers `open` from a private call
 * inbox, so every later frame of the call comes here; it feeds the implementation the caller's
 * messages and sends the implementation's messages back, each side within the credit the other
 * grants; and it ends the call with trailers or the error. Whatever ends the call (the handler,
 * an error, the caller's cancel, the deadline, a vanished caller, the host's drain), the handler's
 * signal fires, the call inbox and timers are released and `call.done()` runs once.
 * Protocol: docs/adr/0006-rpc-streams.md.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  getAbortSignalReason,
  transformInvokeImplementation,
} from "@connectrpc/connect/protocol";
import type { Msg, Subscription } from "@nats-io/nats-core";
import { createCallInbox, publishFrame, subscribeCallInbox } from "../nats/call-inbox.ts";
import { decodeMessage, encodeMessage } from "../protocol/codec.ts";
import { isNoResponders, toConnectError } from "../protocol/errors.ts";
import { Header, StreamFrame } from "../protocol/headers.ts";
import { decodeFrame, type Frame } from "../protocol/stream-frames.ts";
import { createCreditGate } from "../streams/credit-gate.ts";
import { type IdlePinger, startIdlePinger } from "../streams/idle-pinger.ts";
import { createMessageQueue } from "../streams/message-queue.ts";
import type { IncomingCall } from "./incoming-call.ts";

export function serveStream(call: IncomingCall): void {
  const { nc, msg, spec, check, codec, codecOptions, context } = call;
  const method = spec.method;
  const callerInbox = msg.reply ?? "";
  let finished = false;

  // Before the call has an inbox, a refusal is a lone `end` frame to the caller's inbox.
  const refuse = (error: ConnectError) => {
    finished = true;
    if (callerInbox !== "") {
      try {
        publishFrame(nc, callerInbox, "", { kind: StreamFrame.end, seq: 0, error }, call.maxPayloadBytes);
      } catch {
        // The caller cannot be told; the call is over all the same.
      }
    }
    call.done(error);
    context.abort(error);
  };

  // A caller that does not speak streams (`nats req` on a streaming method) is told what to send.
  let opener: Frame | undefined;
  try {
    opener = msg.headers?.get(Header.frame) === StreamFrame.open ? decodeFrame(msg) : undefined;
  } catch {
    opener = undefined;
  }
  if (opener?.kind !== StreamFrame.open || opener.credit < 1) {
    refuse(
      new ConnectError(
        `${method.parent.typeName}.${method.name} is a ${spec.kind.replace("_", "-")} method: open it ` +
          `with a "${Header.frame}: open" message that grants credit (${Header.credit} >= 1)`,
        Code.InvalidArgument,
      ),
    );
    return;
  }
  let request: MessageShape<DescMessage> | undefined;
  if (spec.kind === "server_streaming") {
    try {
      request = decodeMessage(method.input, codec, msg.data, codecOptions);
      check?.(request);
    } catch (err) {
      refuse(toConnectError(err));
      return;
    }
  }

  // A client message that breaks the rules ends the call with the violation, like bad bytes do.
  const checked = (message: MessageShape<DescMessage>) => {
    check?.(message);
    return message;
  };

  const inbox = createCallInbox(nc);
  const sendCredit = createCreditGate(opener.credit);
  const window = spec.kind === "server_streaming" ? 0 : call.creditWindow;
  const input = createMessageQueue<MessageShape<DescMessage>>(window, (credit) =>
    trySend({ kind: StreamFrame.credit, credit }),
  );
  let sent = 0;
  let headerSent = false;
  let pinger: IdlePinger | undefined;
  let sub: Subscription | undefined;

  const send = (frame: Frame) => {
    publishFrame(nc, callerInbox, inbox, frame, call.maxPayloadBytes);
    pinger?.touch();
  };
  const trySend = (frame: Frame) => {
    try {
      send(frame);
    } catch (err) {
      finish(toConnectError(err), false);
    }
  };

  /** Ends the call once: tells the caller (unless it is gone or gave up), releases everything. */
  const finish = (error: ConnectError | undefined, tellCaller: boolean) => {
    if (finished) return;
    finished = true;
    if (tellCaller) sendEnd(error);
    pinger?.stop();
    sub?.unsubscribe();
    context.signal.removeEventListener("abort", onAbort);
    const over = error ?? new ConnectError("the call is over", Code.Canceled);
    sendCredit.close(over);
    input.fail(over);
    call.done(error);
    // Connect's contract: the handler's signal fires when the call is over, however it ends.
    context.abort(error);
  };

  const sendEnd = (error: ConnectError | undefined) => {
    const trailer = new Headers(context.responseTrailer);
    error?.metadata.forEach((value, name) => {
      trailer.append(name, value);
    });
    const header = headerSent ? undefined : context.responseHeader;
    try {
      send({ kind: StreamFrame.end, seq: sent, header, trailer, error });
    } catch (err) {
      // Trailers too large for max_payload: the caller still learns how the call ended.
      try {
        send({ kind: StreamFrame.end, seq: sent, error: toConnectError(err) });
      } catch {
        // The connection is gone; so is the caller's way to hear from us.
      }
    }
  };

  const onAbort = () => {
    // The deadline (deadline_exceeded) or the host's drain (unavailable).
    finish(ConnectError.from(getAbortSignalReason(context.signal), Code.Canceled), true);
  };

  const onFrame = (frameMsg: Msg) => {
    if (finished) return;
    if (isNoResponders(frameMsg)) {
      finish(
        new ConnectError("the caller is gone: its call inbox has no subscriber", Code.Unavailable),
        false,
      );
      return;
    }
    try {
      const frame = decodeFrame(frameMsg);
      switch (frame.kind) {
        case StreamFrame.message:
          if (spec.kind === "server_streaming") {
            throw new ConnectError(
              "a server-streaming call takes its one request message in the opener",
              Code.InvalidArgument,
            );
          }
          input.push(frame.seq, checked(decodeMessage(method.input, codec, frame.data, codecOptions)));
          return;
        case StreamFrame.end:
          input.end(frame.seq);
          return;
        case StreamFrame.credit:
          sendCredit.grant(frame.credit);
          return;
        case StreamFrame.cancel:
          finish(new ConnectError("the caller canceled the call", Code.Canceled), false);
          return;
        case StreamFrame.ping:
          return;
        default:
          throw new ConnectError(
            `unexpected stream frame "${frame.kind}" from the caller`,
            Code.InvalidArgument,
          );
      }
    } catch (err) {
      finish(toConnectError(err), true);
    }
  };

  try {
    sub = subscribeCallInbox(nc, inbox, onFrame, (error) => finish(error, false));
  } catch (err) {
    refuse(new ConnectError(`cannot subscribe a call inbox: ${String(err)}`, Code.Unavailable));
    return;
  }
  try {
    // The inbox subscription precedes `open` on this connection, so the caller's next frame finds it.
    send({ kind: StreamFrame.open, credit: window });
  } catch (err) {
    finish(toConnectError(err), false);
    return;
  }
  pinger = startIdlePinger(call.idleTimeoutMs, () => trySend({ kind: StreamFrame.ping }));
  context.signal.addEventListener("abort", onAbort);
  if (context.signal.aborted) {
    onAbort();
    return;
  }

  const requests = request === undefined ? input : createAsyncIterable([request]);
  const responses = transformInvokeImplementation(spec, context, call.interceptors)(requests);
  void respond(responses[Symbol.asyncIterator]());

  /** Sends the handler's messages, one credit each, then the end; the handler's error ends it too. */
  async function respond(it: AsyncIterator<MessageShape<DescMessage>>): Promise<void> {
    try {
      for (;;) {
        await sendCredit.take();
        const next = await it.next();
        if (finished) break;
        if (next.done === true) {
          finish(undefined, true);
          return;
        }
        const data = encodeMessage(method.output, codec, next.value, codecOptions);
        send({
          kind: StreamFrame.message,
          seq: sent + 1,
          data,
          header: headerSent ? undefined : context.responseHeader,
        });
        sent++;
        headerSent = true;
      }
    } catch (err) {
      if (!finished) finish(toConnectError(err), true);
    }
    // Over early (cancel, deadline, a vanished caller): let the handler's `finally` blocks run.
    it.return?.().catch(() => {});
  }
}
