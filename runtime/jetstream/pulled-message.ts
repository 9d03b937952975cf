/**
 * A message that one of the delivery loop's pull requests (pull-messages.ts) received: what nats.js
 * `JsMsg` offers the loop, read from the core message. nats.js builds its `JsMsg` only inside its
 * own `consume()` and `fetch()`, and `consume()` pulls ahead of what the loop can hold
 * (docs/adr/0017-facts-never-expire.md, "Refinements"), so the loop's own pull needs its own
 * message. The delivery info is in the ack subject
 * (https://github.com/nats-io/nats-architecture-and-design/blob/main/adr/ADR-13.md), read as
 * nats.js `parseInfo` (jsmsg.ts) reads it; the acknowledgements are the payloads nats.js sends.
 */
import { type Msg, type MsgHdrs, nanos } from "@nats-io/nats-core";

const ACK = Uint8Array.of(43, 65, 67, 75); // +ACK
const NAK = Uint8Array.of(45, 78, 65, 75); // -NAK
const WPI = Uint8Array.of(43, 87, 80, 73); // +WPI: in progress, start the ack wait again
const TERM = Uint8Array.of(43, 84, 69, 82, 77); // +TERM
const encoder = new TextEncoder();

export class PulledMessage {
  /** The subject the message was stored under. */
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly stream: string;
  /** The message's sequence in its stream. */
  readonly seq: number;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly #msg: Msg;
  /** When the stream stored it, in nanoseconds since the epoch, as the ack subject spells it. */
  readonly #storedNanos: string;
  /** Acked, naked or terminated: later acknowledgements are not sent (as nats.js `JsMsg`). */
  #final = false;

  /** `msg` must carry an ack subject (`isAckSubject`). */
  constructor(msg: Msg) {
    this.#msg = msg;
    this.subject = msg.subject;
    this.data = msg.data;
    this.headers = msg.headers;
    // $JS.ACK.<stream>.<consumer>.<deliveries>.<stream seq>.<consumer seq>.<nanos>.<pending>, or,
    // since nats-server 2.9, with <domain>.<account hash> after ACK and a random token at the end.
    const tokens = (msg.reply ?? "").split(".");
    const at = tokens.length === 9 ? 2 : 4;
    this.stream = tokens[at] ?? "";
    this.deliveryCount = Number(tokens[at + 2]);
    this.seq = Number(tokens[at + 3]);
    this.#storedNanos = tokens[at + 5] ?? "0";
  }

  /** When the stream stored the message. */
  get time(): Date {
    return new Date(Math.floor(Number(this.#storedNanos) / 1e6));
  }

  ack(): void {
    this.#settle(ACK);
  }

  /** Asks for the message again, after `delayMs` when given. */
  nak(delayMs = 0): void {
    this.#settle(delayMs > 0 ? encoder.encode(`-NAK {"delay":${nanos(delayMs)}}`) : NAK);
  }

  /** Never again: JetStream stops delivering it. */
  term(): void {
    this.#settle(TERM);
  }

  /** Still being worked on: JetStream restarts the message's ack wait. */
  working(): void {
    if (!this.#final) this.#send(WPI);
  }

  #settle(payload: Uint8Array): void {
    if (this.#final) return;
    this.#final = true;
    this.#send(payload);
  }

  #send(payload: Uint8Array): void {
    try {
      this.#msg.respond(payload);
    } catch {
      // The connection is gone: the message comes back after its ack wait, as any unacked one.
    }
  }
}
