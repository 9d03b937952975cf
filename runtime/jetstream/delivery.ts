/**
 * One message of the delivery loop (consume.ts) from its arrival to its ack, nak or term, and
 * what its handler learns about it (`MessageMeta`). Built for a loop that handles tens of
 * thousands of messages a second: the abort signal, the publish time and the metadata headers
 * cost allocations, so they are made only when a handler reads them, and the meta object is an
 * instance of one class (no closures per message).
 */
import { metadataOf } from "../protocol/metadata.ts";
import type { PulledMessage } from "./pulled-message.ts";

/** What a handler learns about the message besides its body. */
export interface MessageMeta {
  /** The message id (what the publisher set, or the NUID it was given). */
  readonly id: string;
  readonly subject: string;
  /** The event's key (its subject's last token) or the job's key header; undefined without one. */
  readonly key: string | undefined;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly publishedAt: Date;
  readonly stream: string;
  readonly seq: number;
  /** The publisher's metadata. */
  readonly headers: Headers;
  /** Aborted when the job's deadline passes or the consumer stops past its grace period. */
  readonly signal: AbortSignal;
  /**
   * The job's `troupe-deadline` (epoch milliseconds), or undefined without one; always undefined
   * for an event, which never expires (docs/adr/0017-facts-never-expire.md).
   */
  readonly deadline: number | undefined;
}

export class Delivery {
  readonly msg: PulledMessage;
  /** Created when the handler first reads its signal: most handlers never do. */
  controller: AbortController | undefined = undefined;
  /** Why the delivery was aborted, if it was (for a signal created afterwards). */
  abortReason: unknown = undefined;
  /** The handler started (or is about to): `stop()` lets it finish instead of taking it back. */
  running = false;
  settled = false;

  constructor(msg: PulledMessage) {
    this.msg = msg;
  }

  /** The abort signal, created on first use. */
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** The `MessageMeta` a handler gets: plain fields, and getters for what costs to build. */
export class DeliveryMeta implements MessageMeta {
  readonly id: string;
  readonly subject: string;
  readonly key: string | undefined;
  readonly deliveryCount: number;
  readonly stream: string;
  readonly seq: number;
  readonly deadline: number | undefined;
  readonly #delivery: Delivery;

  constructor(
    delivery: Delivery,
    id: string,
    key: string | undefined,
    stream: string,
    deadline: number | undefined,
  ) {
    const { msg } = delivery;
    this.#delivery = delivery;
    this.id = id;
    this.subject = msg.subject;
    this.key = key;
    this.deliveryCount = msg.deliveryCount;
    this.stream = stream;
    this.seq = msg.seq;
    this.deadline = deadline;
  }

  get publishedAt(): Date {
    return this.#delivery.msg.time;
  }

  get headers(): Headers {
    return metadataOf(this.#delivery.msg.headers).header;
  }

  get signal(): AbortSignal {
    return this.#delivery.signal();
  }
}
