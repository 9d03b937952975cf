/**
 * `npm start` end to end: `bun run runtime/cli/main.ts dev` as a child process, with its own
 * data folder and free ports. It must bring every `actors/<name>` up as its own process, visible
 * through `$SRV.PING`; a registration through the gateway must end as a welcome mail saved by the
 * SMTP sink; an order placed through the gateway must be paid, take its stock once and be
 * invoiced by billing (which found the payment service through discovery); an actor
 * SIGKILLed later must be restarted; SIGINT must stop it with exit code 0 and leave no process
 * behind; and a second run on the same data folder must still know the user (the KV store of the
 * nats-server it runs survives). A process failing during startup must fail the whole start.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { InvoiceCreatedSchema } from "../../proto/gen/shop/v1/billing_pb.ts";
import {
  InventoryService,
  StockAdjustedSchema,
  StockAdjustmentReason,
} from "../../proto/gen/shop/v1/inventory_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { type DevState, readDevState } from "../../runtime/cli/dev/dev-state.ts";
import { findActors, GATEWAY_ACTOR } from "../../runtime/cli/dev/find-actors.ts";
import { READY_LINE } from "../../runtime/cli/dev/run-dev.ts";
import { pingServices } from "../../runtime/discovery/discover.ts";
import { connect, createNatsTransport, eventSubject } from "../../runtime/mod.ts";
import { onProcessExit } from "../../runtime/platform/exit-hooks.ts";
import { freePort } from "../../runtime/platform/free-port.ts";
import { type ChildProcess, processRunning, spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { eventFilter } from "../../runtime/protocol/subjects.ts";
import { REPO_ROOT } from "../support/actor-process.ts";

const TIMEOUT = { timeout: 120_000 };
const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const ACTORS = findActors(join(REPO_ROOT, "actors")).map((actor) => actor.name);

const scratch = mkdtempSync(join(tmpdir(), "troupe-dev-test-"));

const started: { child: ChildProcess; dataDir: string }[] = [];
// A test that fails leaves its troupe dev running: stop it as Ctrl-C would.
after(async () => {
  for (const { child } of started) child.kill("SIGINT");
  await Promise.all(started.map(({ child }) => child.exited));
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * `troupe dev` with a data folder and free ports. If the test process ends first, the child and
 * the processes its status file names are SIGKILLed (they run in their own process groups).
 */
async function startDev(dataDir: string, args: readonly string[] = []): Promise<ChildProcess> {
  const child = spawnProcess(
    BUN,
    [
      "run",
      "runtime/cli/main.ts",
      "dev",
      "--data-dir",
      dataDir,
      "--nats-port",
      "0",
      "--smtp-port",
      "0",
      ...args,
    ],
    // An outer NATS_URL would make it use that server instead of its own.
    { cwd: REPO_ROOT, env: { NATS_URL: "", NO_COLOR: "1" }, maxOutputChars: 4 * 1024 * 1024 },
  );
  started.push({ child, dataDir });
  const unregister = onProcessExit(() => {
    child.kill("SIGKILL");
    const state = readDevState(dataDir);
    for (const pid of [state?.natsServerPid ?? -1, ...(state?.processes ?? []).map((p) => p.pid)]) {
      if (pid > 0 && processRunning(pid)) process.kill(pid, "SIGKILL");
    }
  });
  void child.exited.then(unregister);
  return child;
}

/**
 * Resolves once the output contains `text` (or, for a global RegExp, `count` matches of it);
 * rejects when the process exits first or time runs out.
 */
function waitForOutput(
  child: ChildProcess,
  text: string | RegExp,
  timeoutMs = 60_000,
  count = 1,
): Promise<void> {
  const seen = () =>
    typeof text === "string"
      ? child.output().includes(text)
      : text.global
        ? (child.output().match(text)?.length ?? 0) >= count
        : text.test(child.output());
  if (seen()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      stop();
      if (err === undefined) resolve();
      else reject(err);
    };
    const timer = setTimeout(
      () => done(new Error(`no "${text}" within ${timeoutMs} ms:\n${child.output()}`)),
      timeoutMs,
    );
    const stop = child.onOutput(() => {
      if (seen()) done();
    });
    void child.exited.then((status) => {
      if (!seen()) done(new Error(`exited (${JSON.stringify(status)}) before "${text}":\n${child.output()}`));
    });
  });
}

function stateOf(dataDir: string): DevState {
  const state = readDevState(dataDir);
  assert.ok(state, `a status file in ${dataDir}`);
  return state;
}

/** SIGINT (what Ctrl-C sends) or SIGTERM; resolves with the exit status. */
async function interrupt(child: ChildProcess, signal: "SIGINT" | "SIGTERM" = "SIGINT") {
  child.kill(signal);
  return child.exited;
}

/** The first event on `sub` that decodes as `schema` and matches (events are protobuf by default). */
async function firstMatching<Desc extends DescMessage>(
  sub: Subscription,
  schema: Desc,
  match: (event: MessageShape<Desc>) => boolean,
): Promise<MessageShape<Desc>> {
  try {
    for await (const msg of sub) {
      const event = fromBinary(schema, msg.data);
      if (match(event)) return event;
    }
    throw new Error(`${sub.getSubject()} closed before a matching ${schema.typeName}`);
  } finally {
    sub.unsubscribe();
  }
}

/** A product's stock level through the gateway's public REST route (int64 fields as JSON strings). */
async function stockOf(gateway: string, productId: string): Promise<{ onHand: number }> {
  const res = await fetch(`${gateway}/v1/stock/${productId}`);
  assert.equal(res.status, 200, await res.clone().text());
  const { stock } = (await res.json()) as { stock: { onHand?: string } };
  return { onHand: Number(stock.onHand ?? 0) };
}

describe("troupe dev", () => {
  const connections: NatsConnection[] = [];
  after(async () => {
    for (const nc of connections) await nc.close().catch(() => {});
  });

  test(
    "runs every actor, delivers the welcome mail, restarts a crashed actor, stops cleanly, and keeps its data",
    TIMEOUT,
    async () => {
      const dataDir = join(scratch, "shop");
      const port = await freePort();
      const first = await startDev(dataDir, ["--port", String(port)]);
      await waitForOutput(first, READY_LINE);
      const state = stateOf(dataDir);
      assert.equal(state.ready, true);
      assert.deepEqual(state.processes.map((p) => p.name).sort(), [...ACTORS].sort());

      const nc = await connect({ servers: state.natsUrl });
      connections.push(nc);
      const names = new Set((await pingServices(nc)).map((ping) => ping.name));
      for (const actor of ACTORS)
        assert.ok(names.has(actor), `${actor} answers $SRV.PING (saw ${[...names]})`);

      // Register a user through the gateway's REST route, read it back with the printed token.
      assert.ok(ACTORS.includes(GATEWAY_ACTOR), "the shop has a gateway");
      assert.equal(state.gatewayUrl, `http://127.0.0.1:${port}`);
      const gateway = state.gatewayUrl;
      assert.equal((await fetch(`${gateway}/readyz`)).status, 200);
      const email = `ada-${randomUUID().slice(0, 8)}@example.com`;
      const request = { idempotencyKey: randomUUID(), email, displayName: "Ada" };
      const res = await fetch(`${gateway}/v1/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const userId = ((await res.json()) as { user: { id: string } }).user.id;
      assert.notEqual(userId, "");
      // The printed development token opens the routes that need one; no token, no entry.
      const token = /export TOKEN=(\S+)/.exec(first.output())?.[1];
      assert.ok(token, "the summary prints a token");
      const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const userUrl = `${gateway}/v1/users/${userId}`;
      const authorised = await fetch(userUrl, { headers: auth });
      assert.equal(authorised.status, 200, await authorised.clone().text());
      assert.equal(((await authorised.json()) as { user: { email: string } }).user.email, email);
      assert.equal((await fetch(userUrl)).status, 401);

      // View a product (public REST route).
      const viewed = await fetch(`${gateway}/v1/products/p-1001`);
      assert.equal(viewed.status, 200);
      assert.equal(((await viewed.json()) as { product: { id: string } }).product.id, "p-1001");

      // The sink announces the mail in one line and saves it as an .eml file.
      await waitForOutput(first, new RegExp(`mail +\\| .*→ ${email.replace(".", "\\.")}`));
      const mailDir = join(dataDir, "mail");
      const saved = readdirSync(mailDir).map((file) => readFileSync(join(mailDir, file), "utf8"));
      const welcome = saved.filter((raw) => raw.includes(`To: ${email}`) || raw.includes(`<${email}>`));
      assert.equal(welcome.length, 1, `one welcome mail for ${email} in ${mailDir}`);
      assert.match(welcome[0] ?? "", /^Subject: .*Ada/im);

      // Place an order: paid synchronously, stock taken once by the inventory, invoiced by billing.
      const inventory = createClient(InventoryService, createNatsTransport({ nc, timeoutMs: 10_000 }));
      await inventory.adjustStock({
        adjustmentId: randomUUID(),
        productId: "p-1001",
        delta: 5n,
        reason: StockAdjustmentReason.RESTOCK,
      });
      const stockBefore = await stockOf(gateway, "p-1001");
      const sales = nc.subscribe(eventSubject(StockAdjustedSchema, "p-1001"), { timeout: 30_000 });
      const invoices = nc.subscribe(eventFilter(InvoiceCreatedSchema), { timeout: 30_000 });
      const placed = await fetch(`${gateway}/v1/orders`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({
          idempotencyKey: randomUUID(),
          userId,
          items: [{ productId: "p-1001", quantity: 2 }],
          shippingAddress: { name: "Ada", lines: ["1 Analytical Way"], city: "London", countryCode: "GB" },
          paymentMethodToken: "tok_visa",
        }),
      });
      assert.equal(placed.status, 200, await placed.clone().text());
      const order = ((await placed.json()) as { order: { id: string; status: string; paymentId: string } })
        .order;
      assert.equal(order.status, "ORDER_STATUS_PAID");
      const payment = await fetch(`${gateway}/v1/payments/${order.paymentId}`, { headers: auth });
      assert.equal(payment.status, 200);
      assert.equal(
        ((await payment.json()) as { payment: { status: string; orderId: string } }).payment.status,
        "PAYMENT_STATUS_CAPTURED",
      );
      const sale = await firstMatching(
        sales,
        StockAdjustedSchema,
        (e) => e.reason === StockAdjustmentReason.SALE,
      );
      assert.equal(sale.delta, -2n);
      const invoice = await firstMatching(invoices, InvoiceCreatedSchema, (e) => e.orderId === order.id);
      assert.ok(invoice.invoiceId);
      assert.equal((await stockOf(gateway, "p-1001")).onHand, stockBefore.onHand - 2, "stock taken once");

      // An actor that dies later is started again, with a new instance in discovery.
      const product = state.processes.find((p) => p.name === "product");
      assert.ok(product);
      const [before] = await pingServices(nc, { name: "product" });
      process.kill(product.pid, "SIGKILL");
      await waitForOutput(first, /product +\| restarted \(pid \d+\)/);
      await waitForOutput(first, /product +\| .* actor ready /g, 30_000, 2);
      const after = (await pingServices(nc, { name: "product" })).map((p) => p.id);
      assert.equal(after.length, 1, "one product instance again");
      assert.notEqual(after[0], before?.id);
      const restarted = stateOf(dataDir).processes.find((p) => p.name === "product");
      assert.ok(restarted && restarted.pid !== product.pid, "the status file has the new pid");

      // A second troupe dev on the same data refuses to start next to the running one.
      const second = await startDev(dataDir);
      assert.equal((await second.exited).code, 1);
      assert.match(second.output(), /already runs/);

      const pids = [
        state.pid,
        state.natsServerPid ?? -1,
        ...state.processes.map((p) => p.pid),
        restarted.pid,
      ];
      assert.deepEqual(await interrupt(first), { code: 0, signal: null }, first.output().slice(-3000));
      assert.deepEqual(
        pids.filter((pid) => processRunning(pid)),
        [],
        "no process of troupe dev is left",
      );
      assert.equal(readDevState(dataDir), undefined, "the status file is removed");

      // The next run finds the user again: the nats-server store, with the users KV bucket, is kept.
      const again = await startDev(dataDir, ["--port", String(await freePort())]);
      await waitForOutput(again, READY_LINE);
      const nc2 = await connect({ servers: stateOf(dataDir).natsUrl });
      connections.push(nc2);
      const users = createClient(UserService, createNatsTransport({ nc: nc2, timeoutMs: 10_000 }));
      assert.equal((await users.getUser({ id: userId })).user?.email, email);
      const pids2 = [...stateOf(dataDir).processes.map((p) => p.pid), stateOf(dataDir).natsServerPid ?? -1];
      assert.equal((await interrupt(again, "SIGTERM")).code, 0);
      assert.deepEqual(
        pids2.filter((pid) => processRunning(pid)),
        [],
      );
    },
  );

  test(
    "a process that exits during startup stops everything and is named with its last lines",
    TIMEOUT,
    async () => {
      const actorsDir = join(scratch, "broken-actors");
      mkdirSync(join(actorsDir, "broken"), { recursive: true });
      writeFileSync(
        join(actorsDir, "broken", "main.ts"),
        'console.error("boom: cannot open the database");\nprocess.exit(3);\n',
      );
      const dataDir = join(scratch, "broken-data");
      const child = await startDev(dataDir, ["--actors-dir", actorsDir]);
      const status = await child.exited;
      const output = child.output();
      assert.equal(status.code, 1, output);
      assert.match(output, /broken exited during startup \(code 3\)/);
      assert.match(output, /boom: cannot open the database/);
      const natsPid = Number(/started nats-server \S+ on \S+ \(pid (\d+)/.exec(output)?.[1]);
      assert.ok(natsPid > 0, output);
      assert.equal(processRunning(natsPid), false, "the nats-server is stopped too");
    },
  );

  test(
    "after a SIGKILLed troupe dev, the next run stops the actors it left and reuses its nats-server",
    TIMEOUT,
    async () => {
      const dataDir = join(scratch, "killed");
      const killed = await startDev(dataDir, ["--port", "0"]);
      await waitForOutput(killed, READY_LINE);
      const left = stateOf(dataDir);
      killed.kill("SIGKILL");
      await killed.exited;
      assert.ok(
        left.processes.every((p) => processRunning(p.pid)),
        "a SIGKILL leaves the children running",
      );

      const next = await startDev(dataDir, ["--port", "0"]);
      await waitForOutput(next, READY_LINE);
      assert.match(next.output(), /stopped what an earlier troupe dev left running: .*\bemail \(pid/);
      assert.match(
        next.output(),
        new RegExp(`reusing the nats-server \\S+ on \\S+ \\(pid ${left.natsServerPid}\\b`),
      );
      assert.deepEqual(
        left.processes.filter((p) => processRunning(p.pid)).map((p) => p.name),
        [],
        "the old actors are gone",
      );
      const current = stateOf(dataDir);
      assert.equal((await interrupt(next)).code, 0);
      const pids = [left.natsServerPid ?? -1, ...current.processes.map((p) => p.pid)];
      assert.deepEqual(
        pids.filter((pid) => processRunning(pid)),
        [],
        "the reused nats-server is stopped at the end too",
      );
    },
  );
});
