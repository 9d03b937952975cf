/**
 * The delivery loop's pull (consume.ts): JetStream pull requests for as many messages as the loop
 * has room for, never more, answered on one subscription
 * (https://github.com/nats-io/nats-architecture-and-design/blob/main/adr/ADR-13.md). nats.js
 * `consume()` keeps a fixed batch requested whatever the loop holds, and what it has received but
 * the loop has not taken gets no progress signal: behind slow handlers those messages ran out of
 * ack wait while they waited, and JetStream delivered them again until they were dead-lettered
 * (docs/adr/0017-facts-never-expire.md, "Refinements"). Here each message goes to the loop as it
 * arrives, and the loop keeps it alive from then on.
 *
 * The credit: `requested` counts messages asked for that have not arrived. A request asks for the
 * room left (what the loop would take now, less `requested`), once that is a quarter of the
 * loop's capacity, or whenever nothing is requested: a loop with fast handlers keeps pulls in flight (as `consume()`
 * does with its threshold), a loop with slow ones asks for each place as it frees. Requests end
 * with a status on their own reply subject, which carries their batch: 408 says how many it did not
 * deliver; 409 (leadership change, consumer deleted, a limit) and 503 (no JetStream) do not, so
 * the whole batch is written off, erring towards asking again rather than stalling. Requests lost
 * without a word (a server that died) are written off when nothing, not even an idle heartbeat,
 * came for two heartbeats, or once the last one has expired; a reconnect writes them all off. A
 * message that still arrives for a written-off request is handed over all the same, so the loop
 * may briefly hold more than its capacity, never a message it does not keep alive.
 */
import { JsHeaders } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, nanos } from "@nats-io/nats-core";
import { inboxPrefixOf } from "../nats/reply-mux.ts";
import type { Logger } from "../observability/logger.ts";
import { consumerNextSubject, isAckSubject } from "../protocol/subjects.ts";
import { PulledMessage } from "./pulled-message.ts";

export interface PullOptions {
  /** The most messages the loop holds: its handler slots and its largest buffer. */
  readonly capacity: number;
  /** How many more messages the loop would take now (at most `capacity` less what it holds). */
  readonly room: () => number;
  /** Takes each message as it arrives; must not throw. */
  readonly onMessage: (msg: PulledMessage) => void;
  /** How long a request waits for messages at the server before it ends (408). */
  readonly expiresMs: number;
  /** How often the server says a waiting request is still there. */
  readonly heartbeatMs: number;
  /** The JetStream API prefix (`$JS.API`, or a domain's). */
  readonly apiPrefix: string;
  readonly logger: Logger;
}

/**
 * The expiry nats.js `consume()` uses. Heartbeats every 2.5 s (nats.js: 15 s), so a request lost
 * with a stream leader's server is noticed within 5–6.25 s: the consumer's backlog waits no longer.
 */
export const defaultPullTiming = { expiresMs: 30_000, heartbeatMs: 2_500 } as const;

export interface MessagePull {
  /** Asks for more when there is room: call whenever the loop lets go of a message. */
  refill(): void;
  /** Stops asking, and resolves once the messages already on their way have been handed over. */
  stop(): Promise<void>;
  /** Settles when the pull ends: undefined after `stop()` or a closed connection, else the error. */
  readonly done: Promise<Error | undefined>;
}

/**
 * The longest pause before asking again after JetStream refused a request: short, as a refusal
 * mostly means a stream leader is being elected (a second or a few), and asking costs little.
 */
const MAX_BACKOFF_MS = 1_000;
const encoder = new TextEncoder();

export function pullMessages(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  options: PullOptions,
): MessagePull {
  const { capacity, room, onMessage, logger } = options;
  const subject = consumerNextSubject(stream, consumer, options.apiPrefix);
  const inbox = `${createInbox(inboxPrefixOf(nc))}.`;
  const lowWater = Math.max(1, Math.floor(capacity / 4));
  const timing = `"expires":${nanos(options.expiresMs)},"idle_heartbeat":${nanos(options.heartbeatMs)}`;
  let requested = 0;
  let lastHeard = performance.now();
  let lastExpiry = 0;
  let stopped = false;
  let disconnected = false;
  /** Refusals in a row, for the backoff; a delivered message resets it. */
  let refusals = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let settleDone!: (result: Error | undefined) => void;
  const done = new Promise<Error | undefined>((resolve) => {
    settleDone = resolve;
  });
  const fields = { stream, consumer };

  const refill = () => {
    if (stopped || disconnected || retry !== undefined) return;
    const free = room() - requested;
    if (free <= 0 || (requested > 0 && free < lowWater)) return;
    requested += free;
    lastExpiry = performance.now() + options.expiresMs;
    try {
      // The reply subject carries the batch, so a status ending the request says what to write off.
      nc.publish(subject, encoder.encode(`{"batch":${free},${timing}}`), { reply: `${inbox}${free}` });
    } catch {
      requested -= free; // not sent: the connection is closing, and its end settles `done`
    }
  };

  const writeOff = (count: number) => {
    requested = Math.max(0, requested - count);
  };

  /** JetStream refused or dropped a request: ask again after a pause that grows with each refusal. */
  const backOff = () => {
    refusals++;
    if (retry !== undefined || stopped) return;
    const delayMs = Math.min(MAX_BACKOFF_MS, 100 * 2 ** Math.min(refusals - 1, 16));
    retry = setTimeout(
      () => {
        retry = undefined;
        refill();
      },
      Math.round(delayMs * (0.8 + 0.2 * Math.random())),
    );
  };

  const onStatus = (msg: Msg) => {
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat: the request is still there
    const batch = Number(msg.subject.slice(inbox.length)) || 0;
    const description = msg.headers?.description ?? "";
    if (code === 404 || code === 408) {
      // Expired (or nothing there): the header says how many of its batch it did not deliver.
      const left = msg.headers?.get(JsHeaders.PendingMessagesHdr);
      writeOff(left === undefined || left === "" ? batch : Number(left) || 0);
      refill();
      return;
    }
    writeOff(batch);
    if (code === 409 && description.toLowerCase() === "leadership change") {
      refill(); // the new leader takes requests at once
      return;
    }
    logger.log(refusals === 0 ? "warn" : "debug", "JetStream refused a pull request; asking again later", {
      ...fields,
      status: code,
      description,
    });
    backOff();
  };

  // Requests lost without a status: a reconnect writes off all of them; silence or expiry, below.
  const statuses = nc.status();
  void (async () => {
    for await (const status of statuses) {
      if (status.type === "disconnect") {
        disconnected = true;
      } else if (status.type === "reconnect") {
        disconnected = false;
        requested = 0;
        lastHeard = performance.now();
        refill();
      }
    }
  })().catch(() => {});

  const sub = nc.subscribe(`${inbox}*`, {
    callback: (err, msg) => {
      if (err !== null) return; // the subscription's end settles `done`
      lastHeard = performance.now();
      if (isAckSubject(msg.reply)) {
        if (requested > 0) requested--;
        refusals = 0;
        onMessage(new PulledMessage(msg));
      } else if (msg.subject.startsWith(inbox)) {
        onStatus(msg);
      }
    },
  });
  const ended = (result: Error | undefined) => {
    stopped = true;
    clearInterval(watchdog);
    clearTimeout(retry);
    (statuses as { stop?: () => void }).stop?.();
    settleDone(result);
  };
  sub.closed.then(
    () => ended(undefined),
    (err: unknown) => ended(err instanceof Error ? err : new Error(String(err))),
  );

  const watchdog = setInterval(() => {
    if (stopped || disconnected || requested === 0) return;
    const now = performance.now();
    if (now - lastHeard > 2 * options.heartbeatMs || now > lastExpiry + options.heartbeatMs) {
      logger.log("debug", "pull requests went unanswered; asking again", { ...fields, requested });
      requested = 0;
      refill();
    }
  }, options.heartbeatMs / 2);
  (watchdog as { unref?: () => void }).unref?.();

  refill();
  return {
    refill,
    done,
    async stop() {
      if (!stopped) {
        stopped = true;
        clearInterval(watchdog);
        clearTimeout(retry);
        (statuses as { stop?: () => void }).stop?.();
        // Unsubscribes and waits for the server's answer to a ping: what it sent before that is
        // handed over (and given back by the loop) instead of waiting out its ack wait.
        await sub.drain().catch(() => {
          try {
            sub.unsubscribe();
          } catch {
            // The connection is closed: so is the subscription.
          }
        });
      }
      await done;
    },
  };
}
