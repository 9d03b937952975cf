/**
 * Acks of the delivery loop (consume.ts), sent together. nats.js writes its outbound buffer
 * from a microtask that the first command after a write queues, and its `consume()` iterator
 * hands messages over a few microtasks apart, so an `ack()` per message as each handler returns
 * costs a socket write (a system call) per message: more than half the consuming process's CPU
 * in bench/events. Queued here instead, the acks of every message handled in one turn of the
 * event loop go out together, in one write, when a zero-delay timer fires.
 *
 * Only acks wait; naks, terms and `working()` go out at once. An ack is queued only after its
 * handler succeeded, so the delay changes nothing about what gets acked: a process that dies in
 * between has its messages redelivered after their ack wait, as if it had died before acking.
 */
import type { PulledMessage } from "./pulled-message.ts";

export interface AckBatch {
  /** Acks `msg` at the end of this turn of the event loop. */
  add(msg: PulledMessage): void;
  /** Sends every queued ack now (before a stop or a flush of the connection). */
  flush(): void;
}

export function createAckBatch(): AckBatch {
  let queued: PulledMessage[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const send = () => {
    timer = undefined;
    const msgs = queued;
    queued = [];
    // One loop, no await: every ack lands in nats.js's outbound buffer before it is written.
    for (const msg of msgs) {
      try {
        msg.ack();
      } catch {
        // The connection is gone: the message comes back after its ack wait, as any unacked one.
      }
    }
  };
  return {
    add(msg) {
      queued.push(msg);
      timer ??= setTimeout(send, 0);
    },
    flush() {
      if (timer === undefined) return;
      clearTimeout(timer);
      send();
    },
  };
}
