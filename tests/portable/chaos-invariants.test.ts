/**
 * The chaos suite's checks (tests/chaos/invariants.ts) on made-up states: a consistent state
 * passes every one, and each kind of violation fails exactly the invariant it breaks; the
 * welcome mails are counted from saved .eml files by recipient, other mails left out.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { PaymentRecordSchema } from "../../proto/gen/shop/payment/state/v1/payment_state_pb.ts";
import { InvoiceSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import { CancelReason, OrderSchema, OrderStatus } from "../../proto/gen/shop/v1/order_pb.ts";
import { PaymentStatus } from "../../proto/gen/shop/v1/payment_pb.ts";
import { UserSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import {
  checkInvariants,
  INVARIANTS,
  type SettleResult,
  type Snapshot,
  welcomeMails,
} from "../chaos/invariants.ts";

const settled: SettleResult = {
  settled: true,
  ms: 10,
  pendingOrders: 0,
  backlog: 0,
  atStart: { pendingOrders: 0, backlog: 0 },
};

const order = (id: string, status: OrderStatus, quantity: number) =>
  create(OrderSchema, {
    id,
    userId: "u-1",
    status,
    ...(status === OrderStatus.CANCELLED ? { cancelReason: CancelReason.PAYMENT_DECLINED } : {}),
    lines: [{ productId: "p-1", quantity }],
  });
const payment = (id: string, orderId: string, status: PaymentStatus) =>
  create(PaymentRecordSchema, { payment: { id, orderId, status } });

/** Two paid orders (2 + 3 units taken), one declined; users each with one welcome mail. */
function consistent(): Snapshot {
  return {
    orders: new Map([
      ["o-1", order("o-1", OrderStatus.PAID, 2)],
      ["o-2", order("o-2", OrderStatus.FULFILLED, 3)],
      ["o-3", order("o-3", OrderStatus.CANCELLED, 4)],
    ]),
    payments: new Map([
      ["pay-1", payment("pay-1", "o-1", PaymentStatus.CAPTURED)],
      ["pay-2", payment("pay-2", "o-2", PaymentStatus.CAPTURED)],
      ["pay-3", payment("pay-3", "o-3", PaymentStatus.DECLINED)],
    ]),
    invoices: new Map([
      ["o-1", create(InvoiceSchema, { id: "inv-1", orderId: "o-1" })],
      ["o-2", create(InvoiceSchema, { id: "inv-2", orderId: "o-2" })],
    ]),
    users: new Map([
      ["u-1", create(UserSchema, { id: "u-1", email: "ada@example.com" })],
      ["u-2", create(UserSchema, { id: "u-2", email: "bob@example.com" })],
    ]),
    deadLetters: [],
    stockBefore: new Map([["p-1", { onHand: 100, reserved: 0 }]]),
    stockAfter: new Map([["p-1", { onHand: 95, reserved: 0 }]]),
    welcome: {
      byAddress: new Map([
        ["ada@example.com", 1],
        ["bob@example.com", 1],
      ]),
      copies: new Map(),
      seen: new Map(),
      total: 3,
    },
  };
}

/** The names of the invariants that fail. */
function failing(snapshot: Snapshot): string[] {
  return checkInvariants(snapshot, settled)
    .filter((i) => !i.passed)
    .map((i) => i.name);
}

test("a consistent state passes every invariant", () => {
  const results = checkInvariants(consistent(), settled);
  assert.equal(results.length, 6);
  assert.deepEqual(failing(consistent()), []);
  assert.match(results[1]?.summary ?? "", /taken 5 units, paid orders hold 5 units/);
});

test("each violation fails the invariant it breaks, and only that one", () => {
  const pending = consistent();
  pending.orders?.set("o-4", order("o-4", OrderStatus.PENDING, 1));
  assert.deepEqual(failing(pending), [INVARIANTS.noPending]);

  const stockLost = consistent();
  (stockLost.stockAfter as Map<string, { onHand: number; reserved: number }>).set("p-1", {
    onHand: 97,
    reserved: 0,
  });
  assert.deepEqual(failing(stockLost), [INVARIANTS.stock]);

  const noInvoice = consistent();
  noInvoice.invoices?.delete("o-2");
  assert.deepEqual(failing(noInvoice), [INVARIANTS.paidComplete]);

  const twoCaptures = consistent();
  twoCaptures.payments?.set("pay-4", payment("pay-4", "o-1", PaymentStatus.CAPTURED));
  assert.deepEqual(failing(twoCaptures), [INVARIANTS.paidComplete]);

  const orphan = consistent();
  orphan.payments?.set("pay-3", payment("pay-3", "o-3", PaymentStatus.CAPTURED));
  assert.deepEqual(failing(orphan), [INVARIANTS.noOrphanCapture]);
  const refunded = consistent();
  refunded.payments?.set("pay-3", payment("pay-3", "o-3", PaymentStatus.REFUNDED));
  assert.deepEqual(failing(refunded), [], "a refunded payment of a cancelled order is no violation");

  const twoMails = consistent();
  twoMails.welcome.byAddress.set("ada@example.com", 2);
  assert.deepEqual(failing(twoMails), [INVARIANTS.welcome]);
  const resent = consistent();
  resent.welcome.copies.set("ada@example.com", 1);
  assert.deepEqual(failing(resent), [], "one mail sent twice (same Message-ID) is one mail");
  const noMail = consistent();
  noMail.welcome.byAddress.delete("bob@example.com");
  assert.deepEqual(failing(noMail), [INVARIANTS.welcome]);

  const dead = {
    ...consistent(),
    deadLetters: [{ stream: "EVT_shop_v1", consumer: "billing", error: "boom" }],
  };
  assert.deepEqual(failing(dead), [INVARIANTS.deadLetters]);

  const noBucket = { ...consistent(), invoices: undefined };
  assert.deepEqual(failing(noBucket), [INVARIANTS.paidComplete], "a missing bucket fails, not passes");
});

const mailDir = mkdtempSync(join(tmpdir(), "chaos-mail-"));
after(() => rmSync(mailDir, { recursive: true, force: true }));

test("welcome mails are counted by recipient and Message-ID from the saved .eml files", async () => {
  const eml = (to: string, subject: string, id: string) =>
    `From: shop@example.com\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${id}@shop.example>\r\n` +
    "Content-Type: text/plain\r\n\r\nHello\r\n";
  const write = (file: string, to: string, subject: string, id: string) =>
    writeFileSync(join(mailDir, file), eml(to, subject, id));
  write("1.eml", "Ada <ADA@example.com>", "Welcome to the Troupe Shop, Ada!", "e-1");
  write("2.eml", "ada@example.com", "Your order o-1 is confirmed", "e-2");
  write("3.eml", "bob@example.com", "Welcome to the Troupe Shop, Bob!", "e-3");
  write("4.eml", "bob@example.com", "Welcome to the Troupe Shop, Bob!", "e-4");
  write("5.eml", "cy@example.com", "Welcome to the Troupe Shop, Cy!", "e-5");
  write("6.eml", "cy@example.com", "Welcome to the Troupe Shop, Cy!", "e-5");
  writeFileSync(join(mailDir, "notes.txt"), "not a mail");
  const { byAddress, copies, total } = await welcomeMails(mailDir);
  assert.equal(total, 6);
  assert.deepEqual(Object.fromEntries(byAddress), {
    "ada@example.com": 1,
    "bob@example.com": 2,
    "cy@example.com": 1,
  });
  assert.deepEqual(Object.fromEntries(copies), { "cy@example.com": 1 }, "the same mail sent again");
});
