/**
 * What the chaos suite checks after the load (issue 11, "Nothing lost under faults"), read from
 * what the system keeps: the public API through the gateway where there is one (stock levels),
 * the actors' KV buckets where there is none (every order, payment, invoice and user: no API
 * lists them), the dead-letter stream (listDeadLetters of troupe/jetstream) and the mails the
 * shop's mail sink saved (`<data dir>/mail/*.eml`). Buckets are opened read-only (never created
 * or reconciled), so reading cannot change what is checked.
 *
 * An order counts as paid while its status is PAID or FULFILLED (the money was taken and not
 * given back); CANCELLED and REFUNDED orders are not paid.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import PostalMime from "postal-mime";
import { listDeadLetters } from "troupe/jetstream";
import {
  type PaymentRecord,
  PaymentRecordSchema,
} from "../../proto/gen/shop/payment/state/v1/payment_state_pb.ts";
import { type Invoice, InvoiceSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import { type Order, OrderSchema, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { type User, UserSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { sleep } from "./faults.ts";

export interface InvariantResult {
  readonly name: string;
  readonly passed: boolean;
  /** One line with the numbers. */
  readonly summary: string;
  /** Examples of violations (a few), for the report. */
  readonly details: readonly string[];
}

/** The invariants' names, in the report's order (the JUnit test cases). */
export const INVARIANTS = {
  noPending: "no order PENDING after settling",
  stock: "stock taken equals the quantities of PAID orders",
  paidComplete: "every PAID order has one CAPTURED payment and one invoice",
  noOrphanCapture: "no CAPTURED payment without a PAID order or a refund",
  welcome: "one welcome mail per user",
  deadLetters: "no dead letter left",
  noProcessLeft: "Ctrl-C leaves no process",
} as const;

export function isPaid(status: OrderStatus): boolean {
  return status === OrderStatus.PAID || status === OrderStatus.FULFILLED;
}

/** Every value of a KV bucket by key; undefined when the bucket does not exist. */
export async function readBucket<Desc extends DescMessage>(
  nc: NatsConnection,
  bucket: string,
  schema: Desc,
): Promise<Map<string, MessageShape<Desc>> | undefined> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(`KV_${bucket}`);
  } catch {
    return undefined;
  }
  const kv = await new Kvm(nc).open(bucket);
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const values = new Map<string, MessageShape<Desc>>();
  for (let i = 0; i < keys.length; i += 64) {
    await Promise.all(
      keys.slice(i, i + 64).map(async (key) => {
        const entry = await kv.get(key);
        if (entry !== null && entry.operation === "PUT") values.set(key, fromBinary(schema, entry.value));
      }),
    );
  }
  return values;
}

export interface SettleResult {
  readonly settled: boolean;
  readonly ms: number;
  readonly pendingOrders: number;
  /** Messages durable consumers have not yet acknowledged (EVT_* and JOB_* streams). */
  readonly backlog: number;
  /** What there was to wait for when settling began. */
  readonly atStart: { readonly pendingOrders: number; readonly backlog: number };
}

/** Waits until no order is PENDING and no consumer has work left, twice in a row, or the deadline. */
export async function settle(nc: NatsConnection, deadline: number): Promise<SettleResult> {
  const startedAt = Date.now();
  let quietBefore = false;
  let atStart: SettleResult["atStart"] | undefined;
  for (;;) {
    let pendingOrders = -1;
    let backlog = -1;
    try {
      const orders = await readBucket(nc, "orders", OrderSchema);
      pendingOrders = [...(orders ?? new Map<string, Order>()).values()].filter(
        (o) => o.status === OrderStatus.PENDING,
      ).length;
      backlog = await consumerBacklog(nc);
    } catch {
      // a node may still be catching up: try again
    }
    const quiet = pendingOrders === 0 && backlog === 0;
    atStart ??= { pendingOrders, backlog };
    if ((quiet && quietBefore) || Date.now() > deadline) {
      return { settled: quiet, ms: Date.now() - startedAt, pendingOrders, backlog, atStart };
    }
    quietBefore = quiet;
    await sleep(1_500);
  }
}

async function consumerBacklog(nc: NatsConnection): Promise<number> {
  const jsm = await jetstreamManager(nc);
  let backlog = 0;
  for await (const stream of jsm.streams.list()) {
    const name = stream.config.name;
    if (!name.startsWith("EVT_") && !name.startsWith("JOB_")) continue;
    for await (const consumer of jsm.consumers.list(name)) {
      if (consumer.config.durable_name === undefined) continue;
      backlog += consumer.num_pending + consumer.num_ack_pending;
    }
  }
  return backlog;
}

export interface StockLevel {
  readonly onHand: number;
  readonly reserved: number;
}

/** A product's stock through the gateway's public route; retried while the system recovers. */
export async function stockOf(gatewayUrl: string, productId: string): Promise<StockLevel> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${gatewayUrl}/v1/stock/${productId}`, { signal: AbortSignal.timeout(5_000) });
      if (res.status === 200) {
        const { stock } = (await res.json()) as { stock?: { onHand?: string; reserved?: string } };
        return { onHand: Number(stock?.onHand ?? 0), reserved: Number(stock?.reserved ?? 0) };
      }
      if (attempt >= 20)
        throw new Error(`GET /v1/stock/${productId}: HTTP ${res.status} ${await res.text()}`);
    } catch (err) {
      if (attempt >= 20) throw err;
    }
    await sleep(500);
  }
}

/**
 * The welcome mails the sink saved, by recipient address (lower case). A mail is its Message-ID
 * (RFC 5322: the unique identifier of a message): a file whose Message-ID this recipient got
 * already is a resent copy of that mail, counted apart. The email actor sends a mail again, with
 * its Message-ID, only when it died between the mail server taking it and the record of it
 * (actors/email/sent-emails.ts); mail systems show such a copy as the one mail.
 */
export async function welcomeMails(mailDir: string): Promise<WelcomeMails> {
  const byAddress = new Map<string, number>();
  const copies = new Map<string, number>();
  const seen = new Map<string, string[]>();
  const ids = new Set<string>();
  let total = 0;
  let files: string[] = [];
  try {
    files = readdirSync(mailDir)
      .filter((f) => f.endsWith(".eml"))
      .sort();
  } catch {
    // no mail at all
  }
  for (const file of files) {
    total++;
    const mail = await PostalMime.parse(readFileSync(join(mailDir, file)));
    if (!(mail.subject ?? "").startsWith("Welcome to")) continue;
    for (const to of mail.to ?? []) {
      const address = (to.address ?? "").toLowerCase();
      const id = `${address} ${mail.messageId ?? file}`;
      const counts = ids.has(id) ? copies : byAddress;
      ids.add(id);
      counts.set(address, (counts.get(address) ?? 0) + 1);
      seen.set(address, [
        ...(seen.get(address) ?? []),
        `${file} (Message-ID ${mail.messageId}, ${mail.date})`,
      ]);
    }
  }
  return { byAddress, copies, seen, total };
}

/** The welcome mails by recipient (see welcomeMails). */
export interface WelcomeMails {
  /** Distinct mails (Message-IDs). */
  readonly byAddress: Map<string, number>;
  /** Files that repeat a Message-ID the recipient got already. */
  readonly copies: Map<string, number>;
  /** Each file, with its Message-ID and date (for the report). */
  readonly seen: Map<string, string[]>;
  readonly total: number;
}

/** What the checks read, once the system has settled. */
export interface Snapshot {
  readonly orders: Map<string, Order> | undefined;
  readonly payments: Map<string, PaymentRecord> | undefined;
  readonly invoices: Map<string, Invoice> | undefined;
  readonly users: Map<string, User> | undefined;
  readonly deadLetters: readonly { stream: string; consumer: string; error: string }[];
  readonly stockBefore: ReadonlyMap<string, StockLevel>;
  readonly stockAfter: ReadonlyMap<string, StockLevel>;
  readonly welcome: WelcomeMails;
}

export async function takeSnapshot(
  nc: NatsConnection,
  gatewayUrl: string,
  mailDir: string,
  stockBefore: ReadonlyMap<string, StockLevel>,
): Promise<Snapshot> {
  const jsm = await jetstreamManager(nc);
  const stockAfter = new Map<string, StockLevel>();
  for (const productId of stockBefore.keys()) stockAfter.set(productId, await stockOf(gatewayUrl, productId));
  let deadLetters: Snapshot["deadLetters"] = [];
  try {
    deadLetters = (await listDeadLetters(jsm, { limit: 100_000 })).map((d) => ({
      stream: d.stream,
      consumer: d.consumer,
      error: d.error,
    }));
  } catch (err) {
    // No DLQ stream: nothing was ever dead-lettered (every consuming actor declares it at start).
    if (!String(err).includes("stream not found")) throw err;
  }
  return {
    orders: await readBucket(nc, "orders", OrderSchema),
    payments: await readBucket(nc, "payments", PaymentRecordSchema),
    invoices: await readBucket(nc, "invoices", InvoiceSchema),
    users: await readBucket(nc, "users", UserSchema),
    deadLetters,
    stockBefore,
    stockAfter,
    welcome: await welcomeMails(mailDir),
  };
}

const missing = (name: string, bucket: string): InvariantResult => ({
  name,
  passed: false,
  summary: `the KV bucket "${bucket}" does not exist`,
  details: [],
});

/** The six invariants on the settled state (the seventh, no process left, is checked at the stop). */
export function checkInvariants(s: Snapshot, settled: SettleResult): InvariantResult[] {
  return [
    noPending(s, settled),
    stockTaken(s, settled),
    paidComplete(s),
    noOrphanCapture(s),
    welcome(s),
    deadLetters(s),
  ];
}

/** The name of an enum value (the generated enums are plain objects, without a reverse mapping). */
function nameOf(values: Readonly<Record<string, number>>, value: number): string {
  return Object.entries(values).find(([, v]) => v === value)?.[0] ?? String(value);
}

function statusName(status: OrderStatus): string {
  return nameOf(OrderStatus, status);
}

function noPending(s: Snapshot, settled: SettleResult): InvariantResult {
  if (s.orders === undefined) return missing(INVARIANTS.noPending, "orders");
  const counts = new Map<string, number>();
  for (const o of s.orders.values())
    counts.set(statusName(o.status), (counts.get(statusName(o.status)) ?? 0) + 1);
  const pending = [...s.orders.values()].filter((o) => o.status === OrderStatus.PENDING);
  const byStatus = [...counts].map(([k, v]) => `${k} ${v}`).join(", ");
  return {
    name: INVARIANTS.noPending,
    passed: pending.length === 0,
    summary: `${s.orders.size} orders: ${byStatus || "none"}; ${settled.settled ? `settled after ${(settled.ms / 1000).toFixed(1)} s (at first ${settled.atStart.pendingOrders} pending, consumer backlog ${settled.atStart.backlog})` : `not settled within the deadline (${settled.pendingOrders} pending, consumer backlog ${settled.backlog})`}`,
    details: pending.slice(0, 5).map((o) => `${o.id} PENDING since ${o.createdAt?.seconds ?? "?"}`),
  };
}

function stockTaken(s: Snapshot, settled: SettleResult): InvariantResult {
  if (s.orders === undefined) return missing(INVARIANTS.stock, "orders");
  const paidQuantity = new Map<string, number>();
  for (const o of s.orders.values()) {
    if (!isPaid(o.status)) continue;
    for (const line of o.lines)
      paidQuantity.set(line.productId, (paidQuantity.get(line.productId) ?? 0) + line.quantity);
  }
  const details: string[] = [];
  let taken = 0;
  let paid = 0;
  const products = new Set([...s.stockBefore.keys(), ...paidQuantity.keys()]);
  for (const productId of products) {
    const before = s.stockBefore.get(productId);
    const after = s.stockAfter.get(productId);
    const takenHere = before !== undefined && after !== undefined ? before.onHand - after.onHand : Number.NaN;
    const paidHere = paidQuantity.get(productId) ?? 0;
    taken += takenHere;
    paid += paidHere;
    if (takenHere !== paidHere) {
      details.push(
        `${productId}: on hand ${before?.onHand} → ${after?.onHand} (taken ${takenHere}, reserved ${after?.reserved}), paid orders hold ${paidHere}`,
      );
    }
  }
  return {
    name: INVARIANTS.stock,
    passed: details.length === 0,
    // Unsettled, part of a difference may be stock still to be taken: the report says so.
    summary:
      `taken ${taken} units, paid orders hold ${paid} units, ${details.length} of ${products.size} products differ` +
      (settled.settled ? "" : ` (not settled: consumers still had ${settled.backlog} messages to handle)`),
    details: details.slice(0, 12),
  };
}

function paidComplete(s: Snapshot): InvariantResult {
  if (s.orders === undefined) return missing(INVARIANTS.paidComplete, "orders");
  if (s.payments === undefined) return missing(INVARIANTS.paidComplete, "payments");
  if (s.invoices === undefined) return missing(INVARIANTS.paidComplete, "invoices");
  const captured = new Map<string, number>();
  for (const { payment } of s.payments.values()) {
    if (payment?.status !== PaymentStatus.CAPTURED) continue;
    captured.set(payment.orderId, (captured.get(payment.orderId) ?? 0) + 1);
  }
  const invoiced = new Map<string, number>();
  for (const invoice of s.invoices.values())
    invoiced.set(invoice.orderId, (invoiced.get(invoice.orderId) ?? 0) + 1);
  const paid = [...s.orders.values()].filter((o) => isPaid(o.status));
  const wrong = { noPayment: 0, payments: 0, noInvoice: 0, invoices: 0 };
  const details: string[] = [];
  for (const o of paid) {
    const p = captured.get(o.id) ?? 0;
    const i = invoiced.get(o.id) ?? 0;
    if (p === 0) wrong.noPayment++;
    if (p > 1) wrong.payments++;
    if (i === 0) wrong.noInvoice++;
    if (i > 1) wrong.invoices++;
    if (p !== 1 || i !== 1)
      details.push(`${o.id} (${statusName(o.status)}): ${p} captured payments, ${i} invoices`);
  }
  return {
    name: INVARIANTS.paidComplete,
    passed: details.length === 0,
    summary: `${paid.length} paid orders: ${wrong.noPayment} without a captured payment, ${wrong.payments} with more than one, ${wrong.noInvoice} without an invoice, ${wrong.invoices} with more than one (${s.invoices.size} invoices in all)`,
    details: details.slice(0, 5),
  };
}

function noOrphanCapture(s: Snapshot): InvariantResult {
  if (s.orders === undefined) return missing(INVARIANTS.noOrphanCapture, "orders");
  if (s.payments === undefined) return missing(INVARIANTS.noOrphanCapture, "payments");
  const statuses = new Map<string, number>();
  const details: string[] = [];
  for (const { payment } of s.payments.values()) {
    if (payment === undefined) continue;
    const name = nameOf(PaymentStatus, payment.status);
    statuses.set(name, (statuses.get(name) ?? 0) + 1);
    if (payment.status !== PaymentStatus.CAPTURED) continue;
    const order = s.orders.get(payment.orderId);
    if (order === undefined || !isPaid(order.status)) {
      details.push(
        `${payment.id} CAPTURED for ${payment.orderId}: order ${order === undefined ? "missing" : statusName(order.status)}`,
      );
    }
  }
  return {
    name: INVARIANTS.noOrphanCapture,
    passed: details.length === 0,
    summary: `${s.payments.size} payments (${[...statuses].map(([k, v]) => `${k} ${v}`).join(", ") || "none"}): ${details.length} captured without a paid order`,
    details: details.slice(0, 5),
  };
}

function welcome(s: Snapshot): InvariantResult {
  if (s.users === undefined) return missing(INVARIANTS.welcome, "users");
  const details: string[] = [];
  let none = 0;
  let more = 0;
  const emails = new Set<string>();
  for (const user of s.users.values()) {
    const email = user.email.toLowerCase();
    emails.add(email);
    const count = s.welcome.byAddress.get(email) ?? 0;
    if (count === 0) none++;
    if (count > 1) more++;
    if (count !== 1 || s.welcome.copies.has(email)) {
      const mails = s.welcome.seen.get(email) ?? [];
      details.push(
        `${user.id} <${email}>: ${count} welcome mails${mails.length > 0 ? `: ${mails.join("; ")}` : ""}`,
      );
    }
  }
  const strangers = [...s.welcome.byAddress.keys()].filter((a) => !emails.has(a));
  for (const a of strangers.slice(0, 3)) details.push(`a welcome mail to ${a}, who is no user`);
  const sum = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);
  const copies = sum(s.welcome.copies);
  return {
    name: INVARIANTS.welcome,
    passed: none === 0 && more === 0 && strangers.length === 0,
    summary:
      `${s.users.size} users, ${sum(s.welcome.byAddress)} welcome mails (${s.welcome.total} mails in all): ` +
      `${none} users without one, ${more} with more than one, ${strangers.length} to no user; ` +
      `${copies} resent ${copies === 1 ? "copy" : "copies"} of a mail (same Message-ID)`,
    details: details.slice(0, 5),
  };
}

function deadLetters(s: Snapshot): InvariantResult {
  const by = new Map<string, number>();
  for (const d of s.deadLetters)
    by.set(`${d.stream}/${d.consumer}`, (by.get(`${d.stream}/${d.consumer}`) ?? 0) + 1);
  return {
    name: INVARIANTS.deadLetters,
    passed: s.deadLetters.length === 0,
    summary: `${s.deadLetters.length} dead letters${by.size === 0 ? "" : `: ${[...by].map(([k, v]) => `${k} ${v}`).join(", ")}`}`,
    details: s.deadLetters.slice(0, 3).map((d) => `${d.stream}/${d.consumer}: ${d.error.slice(0, 160)}`),
  };
}
