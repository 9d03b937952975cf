/**
 * Streaming Connect calls over NATS (server, client and bidi streaming) against a real
 * nats-server: metadata both ways, order, credit-based backpressure, cancellation, deadlines on
 * both sides, errors, a server process that dies mid-stream, pinning to one instance, bad frames
 * and oversize messages refused while the actor keeps serving, and no subscription left behind.
 * The frame codec and its small machines are unit-tested first.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createWritableIterable } from "@connectrpc/connect/protocol";
import { createInbox, type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createNatsTransport, implement, type Logger, silentLogger } from "troupe";
import { serveServices } from "troupe/host";
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  Header,
  rpcMethodSubject,
  rpcServiceSubject,
  StreamFrame,
} from "troupe/protocol";
import { type NatsServer, startNatsCluster, startNatsServer } from "troupe/testing";
import { type ImportStockRequestSchema, InventoryService } from "../../proto/gen/shop/v1/inventory_pb.ts";
import {
  type LookupProductsRequestSchema,
  ProductChangeKind,
  ProductService,
} from "../../proto/gen/shop/v1/product_pb.ts";
import { spawnProcess } from "../../runtime/platform/spawn-process.ts";
import { createCreditGate } from "../../runtime/streams/credit-gate.ts";
import { createMessageQueue } from "../../runtime/streams/message-queue.ts";

const TIMEOUT = { timeout: 30_000 };
/**
 * The fakes here speak the shop's contracts with commands in their fields (ids like
 * ["count", "", "1000"], empty requests); the contracts' rules are not what this file tests
 * (tests/portable/request-validation.test.ts does), so its hosts do not check them.
 */
const FAKE = { validateRequests: false } as const;
const MAX_PAYLOAD = 64 * 1024;
const decoder = new TextDecoder();

type LookupRequest = MessageInitShape<typeof LookupProductsRequestSchema>;
type ImportRequest = MessageInitShape<typeof ImportStockRequestSchema>;

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function codeOf(err: unknown): Code {
  return ConnectError.from(err).code;
}

/** Reads a stream to its end; returns what arrived and the error it ended with, if any. */
async function drain<T>(stream: AsyncIterable<T>): Promise<{ items: T[]; error: ConnectError | undefined }> {
  const items: T[] = [];
  try {
    for await (const item of stream) items.push(item);
    return { items, error: undefined };
  } catch (err) {
    return { items, error: ConnectError.from(err) };
  }
}

/** An async iterable of the given messages, for client-streaming calls. */
async function* fromArray<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

describe("stream frames", () => {
  const roundTrip = (frame: Frame): Frame => {
    const { headers, data } = encodeFrame(frame);
    return decodeFrame({ headers, data });
  };

  test("every kind of frame survives encoding", () => {
    const data = new Uint8Array([1, 2, 3]);
    assert.deepEqual(roundTrip({ kind: StreamFrame.open, credit: 16 }), { kind: "open", credit: 16 });
    assert.deepEqual(roundTrip({ kind: StreamFrame.message, seq: 7, data }), { kind: "msg", seq: 7, data });
    assert.deepEqual(roundTrip({ kind: StreamFrame.credit, credit: 4 }), { kind: "credit", credit: 4 });
    assert.deepEqual(roundTrip({ kind: StreamFrame.cancel }), { kind: "cancel" });
    assert.deepEqual(roundTrip({ kind: StreamFrame.ping }), { kind: "ping" });
    const end = roundTrip({
      kind: StreamFrame.end,
      seq: 3,
      header: new Headers({ "x-served-by": "a" }),
      trailer: new Headers({ "x-rows": "3" }),
    });
    assert.equal(end.kind, "end");
    if (end.kind !== "end") return;
    assert.equal(end.seq, 3);
    assert.equal(end.header?.get("x-served-by"), "a");
    assert.equal(end.trailer?.get("x-rows"), "3");
    assert.equal(end.trailer?.get("x-served-by"), null);
    assert.equal(end.error, undefined);
  });

  test("an end frame carries the error, its details and metadata", () => {
    const error = new ConnectError("product p9 was deleted", Code.NotFound, { "x-reason": "deleted" });
    const { headers, data } = encodeFrame({ kind: StreamFrame.end, seq: 2, trailer: error.metadata, error });
    assert.equal(headers.get(Header.serviceErrorCode), "404", "NATS micro tools see the status");
    assert.equal(headers.get(Header.serviceError), "product p9 was deleted");
    const end = decodeFrame({ headers, data });
    assert.ok(end.kind === "end" && end.error !== undefined);
    assert.equal(end.error.code, Code.NotFound);
    assert.equal(end.error.rawMessage, "product p9 was deleted");
    assert.equal(end.error.metadata.get("x-reason"), "deleted");
  });

  test("an opener carries the request metadata, deadline and content type; protocol names are not metadata", () => {
    const { headers } = encodeFrame({
      kind: StreamFrame.open,
      credit: 64,
      header: new Headers({ "x-tenant": "acme", "troupe-frame": "end", "troupe-seq": "99" }),
      timeoutMs: 1500,
      contentType: "application/json",
    });
    assert.equal(headers.get(Header.frame), "open");
    assert.deepEqual(headers.values(Header.frame), ["open"], "metadata cannot forge the frame kind");
    assert.equal(headers.has(Header.seq), false);
    assert.equal(headers.get("x-tenant"), "acme");
    assert.equal(headers.get(Header.timeoutMs), "1500");
    assert.equal(headers.get(Header.contentType), "application/json");
  });

  test("a plain error reply (a host refusing the call) reads as an end without a count", () => {
    const hdrs = natsHeaders();
    hdrs.set(Header.serviceErrorCode, "501");
    hdrs.set(Header.serviceError, "no such method");
    const body = new TextEncoder().encode('{"code":"unimplemented","message":"no such method"}');
    const end = decodeFrame({ headers: hdrs, data: body });
    assert.ok(end.kind === "end" && end.error !== undefined);
    assert.equal(end.seq, undefined);
    assert.equal(end.error.code, Code.Unimplemented);
  });

  test("malformed frames are invalid_argument, saying what is wrong", () => {
    const frame = (entries: Record<string, string>) => {
      const hdrs = natsHeaders();
      for (const [name, value] of Object.entries(entries)) hdrs.set(name, value);
      return () => decodeFrame({ headers: hdrs, data: new Uint8Array() });
    };
    const invalid = (pattern: RegExp) => (err: unknown) =>
      codeOf(err) === Code.InvalidArgument && pattern.test((err as Error).message);
    assert.throws(() => decodeFrame({ data: new Uint8Array() }), invalid(/no troupe-frame header/));
    assert.throws(frame({ "troupe-frame": "bogus" }), invalid(/unknown stream frame "bogus"/));
    assert.throws(frame({ "troupe-frame": "msg" }), invalid(/troupe-seq/));
    assert.throws(frame({ "troupe-frame": "msg", "troupe-seq": "0" }), invalid(/>= 1, got "0"/));
    assert.throws(frame({ "troupe-frame": "msg", "troupe-seq": "1e3" }), invalid(/troupe-seq/));
    assert.throws(frame({ "troupe-frame": "credit", "troupe-credit": "-2" }), invalid(/troupe-credit/));
    assert.throws(frame({ "troupe-frame": "end", "troupe-seq": "x" }), invalid(/troupe-seq/));
  });

  test("a credit gate lets a sender through only with credit, and fails it when closed", async () => {
    const gate = createCreditGate(1);
    await gate.take();
    let through = false;
    const waiting = gate.take().then(() => {
      through = true;
    });
    await Promise.resolve();
    assert.equal(through, false, "no credit, no message");
    gate.grant(2);
    await waiting;
    assert.equal(gate.available, 1);
    await gate.take();
    const blocked = gate.take();
    gate.close(new Error("over"));
    await assert.rejects(blocked, /over/);
    await assert.rejects(gate.take(), /over/);
  });

  test("a message queue grants credit back in batches as its reader consumes", async () => {
    const grants: number[] = [];
    const queue = createMessageQueue<number>(4, (credit) => grants.push(credit));
    for (let seq = 1; seq <= 4; seq++) queue.push(seq, seq * 10);
    assert.throws(
      () => queue.push(5, 50),
      (err) => codeOf(err) === Code.ResourceExhausted,
    );
    const it = queue[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: false, value: 10 });
    assert.deepEqual(grants, []);
    assert.deepEqual(await it.next(), { done: false, value: 20 });
    assert.deepEqual(grants, [2], "half the window, once the reader took it");
    queue.push(5, 50);
    queue.end(5);
    const rest: number[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) rest.push(r.value);
    assert.deepEqual(rest, [30, 40, 50]);
  });

  test("a message queue refuses a gap and a short end with data_loss", () => {
    const queue = createMessageQueue<string>(8, () => {});
    queue.push(1, "a");
    assert.throws(
      () => queue.push(3, "c"),
      (err) => codeOf(err) === Code.DataLoss && /3 arrived when 2 was due/.test((err as Error).message),
    );
    assert.throws(
      () => queue.end(2),
      (err) => codeOf(err) === Code.DataLoss,
    );
  });

  test("a failed queue hands out what arrived before the error", async () => {
    const queue = createMessageQueue<string>(8, () => {});
    queue.push(1, "a");
    queue.push(2, "b");
    queue.fail(new ConnectError("gone", Code.Unavailable));
    const { items, error } = await drain(queue);
    assert.deepEqual(items, ["a", "b"]);
    assert.equal(error?.code, Code.Unavailable);
  });
});

describe("streaming calls over NATS", () => {
  let server: NatsServer;
  let serverNc: NatsConnection;
  let clientNc: NatsConnection;
  const logged: string[] = [];
  const logger: Logger = {
    log: (_level, message, fields) => logged.push(`${message} ${JSON.stringify(fields)}`),
  };
  // The reason each handler's signal fired with, by the test key the caller sent.
  const ended = new Map<string, Deferred<unknown>>();
  const endedFor = (key: string): Deferred<unknown> => {
    let entry = ended.get(key);
    if (entry === undefined) {
      entry = deferred<unknown>();
      ended.set(key, entry);
    }
    return entry;
  };
  // How many messages the "fast" handler has produced, by test key.
  const produced = new Map<string, number>();

  const snapshot = (id: string, name = "") => ({
    kind: ProductChangeKind.SNAPSHOT,
    product: { id, name },
  });

  before(async () => {
    server = await startNatsServer({ maxPayloadBytes: MAX_PAYLOAD, jetstream: false });
    serverNc = await connect({ servers: server.url, name: "stream-server" });
    clientNc = await connect({ servers: server.url, name: "stream-client" });
    await serveServices(
      serverNc,
      [
        implement(ProductService, {
          async *watchProducts(req, ctx) {
            const [mode = "", key = "", arg = "0"] = req.ids;
            const signal = ctx.signal;
            const entry = endedFor(key);
            signal.addEventListener("abort", () => entry.resolve(signal.reason), { once: true });
            switch (mode) {
              case "count":
                for (let i = 1; i <= Number(arg); i++) yield snapshot(String(i));
                return;
              case "metadata": {
                const tenant = ctx.requestHeader.get("x-tenant") ?? "";
                ctx.responseHeader.set("x-served-by", "watch");
                yield snapshot("1", tenant);
                yield snapshot("2", tenant);
                ctx.responseTrailer.set("x-rows", "2");
                return;
              }
              case "no-messages":
                ctx.responseHeader.set("x-served-by", "watch");
                ctx.responseTrailer.set("x-rows", "0");
                return;
              case "fast":
                for (let i = 1; i <= Number(arg); i++) {
                  produced.set(key, i);
                  yield snapshot(String(i));
                }
                return;
              case "hang":
                yield snapshot("1");
                await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
                return;
              case "tick":
                for (let i = 1; !signal.aborted; i++) {
                  yield snapshot(String(i));
                  await new Promise((resolve) => setTimeout(resolve, 10));
                }
                return;
              case "fail":
                for (let i = 1; i <= Number(arg); i++) yield snapshot(String(i));
                throw new ConnectError("product p9 was deleted", Code.NotFound, { "x-reason": "deleted" });
              case "crash":
                yield snapshot("1");
                throw new Error("database password is hunter2");
              case "big":
                yield snapshot("1");
                yield { product: { id: "big", description: "x".repeat(MAX_PAYLOAD + 1) } };
                yield snapshot("3");
                return;
              default:
                throw new ConnectError(`unknown test mode "${mode}"`, Code.InvalidArgument);
            }
          },
          async *lookupProducts(requests, ctx) {
            const tenant = ctx.requestHeader.get("x-tenant") ?? "";
            ctx.responseHeader.set("x-served-by", "lookup");
            let count = 0;
            for await (const req of requests) {
              count++;
              yield { id: req.id, found: true, product: { id: req.id, name: tenant } };
            }
            ctx.responseTrailer.set("x-count", String(count));
          },
        }),
        implement(InventoryService, {
          async importStock(requests, ctx) {
            let received = 0n;
            let sum = 0n;
            for await (const req of requests) {
              received++;
              sum += req.onHand;
            }
            ctx.responseHeader.set("x-tenant-seen", ctx.requestHeader.get("x-tenant") ?? "");
            ctx.responseTrailer.set("x-sum", String(sum));
            return { received, updated: sum };
          },
        }),
      ],
      { name: "shop", logger, ...FAKE },
    );
  });

  after(async () => {
    await clientNc?.close();
    await serverNc?.close();
    await server?.dispose();
  });

  const products = () => createClient(ProductService, createNatsTransport({ nc: clientNc }));
  const inventory = () => createClient(InventoryService, createNatsTransport({ nc: clientNc }));

  test("a server stream of 1000 messages arrives complete and in order", TIMEOUT, async () => {
    const { items, error } = await drain(products().watchProducts({ ids: ["count", "", "1000"] }));
    assert.equal(error, undefined);
    assert.deepEqual(
      items.map((res) => res.product?.id),
      Array.from({ length: 1000 }, (_, i) => String(i + 1)),
    );
  });

  test("the JSON codec streams in all three kinds", TIMEOUT, async () => {
    // A bystander reads the frames on the wire, as `nats sub '_INBOX.>'` would.
    const spy = await connect({ servers: server.url });
    const bodies: string[] = [];
    spy.subscribe("_INBOX.>", {
      callback: (_err, msg) => {
        if (msg.headers?.get(Header.frame) === StreamFrame.message) bodies.push(decoder.decode(msg.data));
      },
    });
    await spy.flush();
    const transport = createNatsTransport({ nc: clientNc, codec: "json" });
    const { items, error } = await drain(
      createClient(ProductService, transport).watchProducts({ ids: ["count", "", "3"] }),
    );
    assert.equal(error, undefined);
    assert.deepEqual(
      items.map((res) => res.product?.id),
      ["1", "2", "3"],
    );
    const lookups = await drain(
      createClient(ProductService, transport).lookupProducts(fromArray([{ id: "j1" }, { id: "j2" }])),
    );
    assert.deepEqual(
      lookups.items.map((res) => res.id),
      ["j1", "j2"],
    );
    const summary = await createClient(InventoryService, transport).importStock(
      fromArray<ImportRequest>([{ productId: "p1", onHand: 7n }]),
    );
    assert.equal(summary.updated, 7n);
    await clientNc.flush();
    await spy.flush();
    await spy.close();
    // 3 watched + 2 lookups each way + 1 import + its summary
    assert.equal(bodies.length, 3 + 4 + 2);
    for (const body of bodies) assert.doesNotThrow(() => JSON.parse(body), body);
  });

  test("server streaming: request headers in, response headers and trailers out", TIMEOUT, async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const stream = products().watchProducts(
      { ids: ["metadata"] },
      {
        headers: { "x-tenant": "acme" },
        onHeader: (h) => {
          header = h;
        },
        onTrailer: (t) => {
          trailer = t;
        },
      },
    );
    const { items, error } = await drain(stream);
    assert.equal(error, undefined);
    assert.deepEqual(
      items.map((res) => res.product?.name),
      ["acme", "acme"],
    );
    assert.equal(header?.get("x-served-by"), "watch");
    assert.equal(trailer?.get("x-rows"), "2");
  });

  test("a stream without messages still delivers its headers and trailers", TIMEOUT, async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const stream = products().watchProducts(
      { ids: ["no-messages"] },
      {
        onHeader: (h) => {
          header = h;
        },
        onTrailer: (t) => {
          trailer = t;
        },
      },
    );
    const { items, error } = await drain(stream);
    assert.equal(error, undefined);
    assert.equal(items.length, 0);
    assert.equal(header?.get("x-served-by"), "watch");
    assert.equal(trailer?.get("x-rows"), "0");
  });

  test("client streaming: the server sums the stream; metadata travels both ways", TIMEOUT, async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const levels = Array.from(
      { length: 300 },
      (_, i): ImportRequest => ({ productId: `p${i}`, onHand: BigInt(i) }),
    );
    const res = await inventory().importStock(fromArray(levels), {
      headers: { "x-tenant": "acme" },
      onHeader: (h) => {
        header = h;
      },
      onTrailer: (t) => {
        trailer = t;
      },
    });
    assert.equal(res.received, 300n);
    assert.equal(res.updated, (299n * 300n) / 2n);
    assert.equal(header?.get("x-tenant-seen"), "acme");
    assert.equal(trailer?.get("x-sum"), String((299n * 300n) / 2n));
  });

  test("bidi streaming: each answer arrives before the next request is sent", TIMEOUT, async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const requests = createWritableIterable<LookupRequest>();
    const responses = products()
      .lookupProducts(requests, {
        headers: { "x-tenant": "acme" },
        onHeader: (h) => {
          header = h;
        },
        onTrailer: (t) => {
          trailer = t;
        },
      })
      [Symbol.asyncIterator]();
    for (const id of ["a", "b", "c", "d"]) {
      await requests.write({ id });
      const res = await responses.next();
      assert.equal(res.done, false);
      assert.equal(res.value?.id, id);
      assert.equal(res.value?.product?.name, "acme");
    }
    requests.close();
    assert.equal((await responses.next()).done, true);
    assert.equal(header?.get("x-served-by"), "lookup");
    assert.equal(trailer?.get("x-count"), "4");
  });

  test(
    "backpressure: a fast server never runs more than the credit window ahead of a slow reader",
    TIMEOUT,
    async () => {
      const creditWindow = 8;
      const total = 200;
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc, creditWindow }));
      let read = 0;
      let mostAhead = 0;
      for await (const res of client.watchProducts({ ids: ["fast", "backpressure", String(total)] })) {
        read++;
        assert.equal(res.product?.id, String(read));
        // The reader is slow: the server has time to send everything its credit allows.
        await new Promise((resolve) => setTimeout(resolve, 2));
        mostAhead = Math.max(mostAhead, (produced.get("backpressure") ?? 0) - read);
      }
      assert.equal(read, total);
      assert.ok(mostAhead <= creditWindow, `the server ran ${mostAhead} messages ahead`);
      assert.ok(mostAhead >= creditWindow / 2, `the server used its credit (ran ${mostAhead} ahead)`);
    },
  );

  test("a client abort fires the handler's signal", TIMEOUT, async () => {
    const abort = new AbortController();
    const it = products()
      .watchProducts({ ids: ["hang", "abort"] }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.product?.id, "1");
    abort.abort();
    await assert.rejects(it.next(), (err) => codeOf(err) === Code.Canceled);
    const reason = await endedFor("abort").promise;
    assert.equal(codeOf(reason), Code.Canceled, "the server heard the cancel, not its deadline");
  });

  test("a deadline fails the call and fires the handler's signal", TIMEOUT, async () => {
    const started = Date.now();
    const { items, error } = await drain(
      products().watchProducts({ ids: ["hang", "deadline"] }, { timeoutMs: 300 }),
    );
    assert.equal(items.length, 1);
    assert.equal(error?.code, Code.DeadlineExceeded);
    assert.ok(Date.now() - started < 5_000);
    const reason = await endedFor("deadline").promise;
    // The client's cancel and the server's own deadline race; either ends the handler.
    assert.ok([Code.DeadlineExceeded, Code.Canceled].includes(codeOf(reason)), String(reason));
  });

  test("a handler's ConnectError reaches the client after the messages sent before it", TIMEOUT, async () => {
    const { items, error } = await drain(products().watchProducts({ ids: ["fail", "", "3"] }));
    assert.deepEqual(
      items.map((res) => res.product?.id),
      ["1", "2", "3"],
    );
    assert.equal(error?.code, Code.NotFound);
    assert.equal(error?.rawMessage, "product p9 was deleted");
    assert.equal(error?.metadata.get("x-reason"), "deleted");
  });

  test("a handler's plain Error is internal, without its message", TIMEOUT, async () => {
    const { items, error } = await drain(products().watchProducts({ ids: ["crash"] }));
    assert.equal(items.length, 1);
    assert.equal(error?.code, Code.Internal);
    assert.equal(error?.rawMessage, "internal error");
    assert.ok(!error?.message.includes("hunter2"));
  });

  test("a server message above max_payload ends the call with resource_exhausted", TIMEOUT, async () => {
    const { items, error } = await drain(products().watchProducts({ ids: ["big"] }));
    assert.equal(items.length, 1);
    assert.equal(error?.code, Code.ResourceExhausted);
    assert.match(error?.rawMessage ?? "", new RegExp(`max_payload of ${MAX_PAYLOAD} bytes`));
  });

  test(
    "a client message above max_payload is refused with resource_exhausted; the actor keeps serving",
    TIMEOUT,
    async () => {
      const levels: ImportRequest[] = [
        { productId: "p1", onHand: 1n },
        { productId: "x".repeat(MAX_PAYLOAD + 1), onHand: 2n },
      ];
      await assert.rejects(
        inventory().importStock(fromArray(levels)),
        (err) => codeOf(err) === Code.ResourceExhausted && /max_payload of 65536 bytes/.test(String(err)),
      );
      const res = await inventory().importStock(fromArray([{ productId: "p1", onHand: 5n }]));
      assert.equal(res.updated, 5n);
    },
  );

  test("no responders for a stream's method is unavailable at once", TIMEOUT, async () => {
    const client = createClient(ProductService, createNatsTransport({ nc: clientNc, namespace: "nobody" }));
    const started = Date.now();
    const { error } = await drain(client.watchProducts({ ids: ["count", "", "1"] }, { timeoutMs: 20_000 }));
    assert.equal(error?.code, Code.Unavailable);
    assert.ok(Date.now() - started < 5_000);
  });

  describe("bad frames are refused and the actor keeps serving", () => {
    const lookup = rpcMethodSubject(ProductService.method.lookupProducts);
    const watch = rpcMethodSubject(ProductService.method.watchProducts);

    /** A call spoken frame by frame: the opener is sent; `next()` reads the server's frames. */
    const rawCall = (subject: string, entries: Record<string, string>, body = new Uint8Array()) => {
      const inbox = createInbox();
      const sub = clientNc.subscribe(inbox);
      const frames = sub[Symbol.asyncIterator]();
      const hdrs = natsHeaders();
      for (const [name, value] of Object.entries(entries)) hdrs.set(name, value);
      clientNc.publish(subject, body, { reply: inbox, headers: hdrs });
      return {
        inbox,
        async next(): Promise<Msg> {
          const r = await frames.next();
          assert.equal(r.done, false);
          return r.value as Msg;
        },
        close: () => sub.unsubscribe(),
      };
    };

    const errorCodeOf = (msg: Msg): string => JSON.parse(decoder.decode(msg.data)).code;

    const sendFrame = (
      to: string,
      from: string,
      entries: Record<string, string>,
      body = new Uint8Array(),
    ) => {
      const hdrs = natsHeaders();
      for (const [name, value] of Object.entries(entries)) hdrs.set(name, value);
      clientNc.publish(to, body, { reply: from, headers: hdrs });
    };

    const stillServes = async () => {
      const { items, error } = await drain(products().watchProducts({ ids: ["count", "", "2"] }));
      assert.equal(error, undefined);
      assert.equal(items.length, 2);
    };

    test("an open answers from the server's call inbox with its credit", TIMEOUT, async () => {
      const call = rawCall(lookup, { "troupe-frame": "open", "troupe-credit": "4" });
      const open = await call.next();
      assert.equal(open.headers?.get(Header.frame), "open");
      assert.equal(open.headers?.get(Header.credit), "64");
      assert.match(open.reply ?? "", /^_INBOX\./);
      sendFrame(open.reply ?? "", call.inbox, { "troupe-frame": "end", "troupe-seq": "0" });
      const end = await call.next();
      assert.equal(end.headers?.get(Header.frame), "end");
      assert.equal(end.headers?.get(Header.serviceErrorCode), "", "a clean end");
      call.close();
    });

    test("a message that does not decode is invalid_argument", TIMEOUT, async () => {
      const call = rawCall(lookup, { "troupe-frame": "open", "troupe-credit": "4" });
      const open = await call.next();
      sendFrame(
        open.reply ?? "",
        call.inbox,
        { "troupe-frame": "msg", "troupe-seq": "1" },
        new Uint8Array([0xff, 0xff, 0xff]),
      );
      const end = await call.next();
      assert.equal(end.headers?.get(Header.frame), "end");
      assert.equal(end.headers?.get(Header.serviceErrorCode), "400");
      assert.equal(errorCodeOf(end), "invalid_argument");
      call.close();
      await stillServes();
    });

    test("an unknown frame is invalid_argument", TIMEOUT, async () => {
      const call = rawCall(lookup, { "troupe-frame": "open", "troupe-credit": "4" });
      const open = await call.next();
      sendFrame(open.reply ?? "", call.inbox, { "troupe-frame": "bogus" });
      const end = await call.next();
      assert.equal(errorCodeOf(end), "invalid_argument");
      assert.match(end.headers?.get(Header.serviceError) ?? "", /unknown stream frame "bogus"/);
      call.close();
      await stillServes();
    });

    test("a gap in the sequence is data_loss", TIMEOUT, async () => {
      const call = rawCall(lookup, { "troupe-frame": "open", "troupe-credit": "4" });
      const open = await call.next();
      sendFrame(open.reply ?? "", call.inbox, { "troupe-frame": "msg", "troupe-seq": "2" });
      const end = await call.next();
      assert.equal(errorCodeOf(end), "data_loss");
      call.close();
      await stillServes();
    });

    test("an opener that is not a stream opener (plain `nats req`) is refused", TIMEOUT, async () => {
      const call = rawCall(watch, {}, new TextEncoder().encode('{"ids":["count","","1"]}'));
      const end = await call.next();
      assert.equal(end.headers?.get(Header.frame), "end");
      assert.equal(errorCodeOf(end), "invalid_argument");
      assert.match(end.headers?.get(Header.serviceError) ?? "", /server-streaming method/);
      call.close();
      await stillServes();
    });

    test("the server enforces the caller's deadline on its own", TIMEOUT, async () => {
      // This caller never cancels: only the server's deadline can end the call.
      const body = new TextEncoder().encode('{"ids":["hang","raw-deadline"]}');
      const call = rawCall(
        watch,
        {
          "troupe-frame": "open",
          "troupe-credit": "4",
          "connect-timeout-ms": "200",
          "content-type": "application/json",
        },
        body,
      );
      assert.equal((await call.next()).headers?.get(Header.frame), "open");
      assert.equal((await call.next()).headers?.get(Header.frame), "msg");
      const end = await call.next();
      assert.equal(end.headers?.get(Header.frame), "end");
      assert.equal(end.headers?.get(Header.seq), "1");
      assert.equal(errorCodeOf(end), "deadline_exceeded");
      assert.equal(codeOf(await endedFor("raw-deadline").promise), Code.DeadlineExceeded);
      call.close();
    });
  });

  test(
    "the two calls of one client to two instances stay pinned to the instance that opened each",
    TIMEOUT,
    async () => {
      const namespace = "pinned";
      const connections: NatsConnection[] = [];
      for (const name of ["a", "b"]) {
        const nc = await connect({ servers: server.url });
        connections.push(nc);
        await serveServices(
          nc,
          [
            implement(ProductService, {
              async *lookupProducts(requests) {
                for await (const req of requests) yield { id: req.id, found: true, product: { name } };
              },
            }),
          ],
          { name: "pinned-product", namespace, logger, ...FAKE },
        );
      }
      try {
        const client = createClient(ProductService, createNatsTransport({ nc: clientNc, namespace }));
        const seen = new Set<string>();
        // The queue group picks an instance per call; keep opening pairs of calls until both served.
        for (let round = 0; round < 20 && seen.size < 2; round++) {
          const calls = [0, 1].map(() => {
            const requests = createWritableIterable<LookupRequest>();
            return {
              requests,
              responses: client.lookupProducts(requests)[Symbol.asyncIterator](),
              servedBy: new Set<string>(),
            };
          });
          // Interleave the two calls' messages so each call's frames are in flight alongside the other's.
          for (let i = 0; i < 10; i++) {
            for (const call of calls) {
              await call.requests.write({ id: `m${i}` });
              const res = await call.responses.next();
              assert.equal(res.value?.id, `m${i}`);
              call.servedBy.add(res.value?.product?.name ?? "");
            }
          }
          for (const call of calls) {
            call.requests.close();
            assert.equal((await call.responses.next()).done, true);
            assert.equal(call.servedBy.size, 1, `one call was served by ${[...call.servedBy].join(" and ")}`);
            for (const name of call.servedBy) seen.add(name);
          }
        }
        assert.deepEqual([...seen].sort(), ["a", "b"], "both instances took calls");
      } finally {
        for (const nc of connections) await nc.close();
      }
    },
  );

  test(
    "a server process killed mid-stream fails the call with unavailable well before its deadline",
    TIMEOUT,
    async () => {
      const namespace = "doomed";
      const child = spawnServerProcess(server.url, namespace);
      try {
        await child.ready;
        const client = createClient(
          ProductService,
          createNatsTransport({ nc: clientNc, namespace, idleTimeoutMs: 200 }),
        );
        const it = client.watchProducts({ ids: [] }, { timeoutMs: 25_000 })[Symbol.asyncIterator]();
        assert.equal((await it.next()).value?.product?.id, "1");
        const killedAt = Date.now();
        child.process.kill("SIGKILL");
        await child.process.exited;
        let error: ConnectError | undefined;
        try {
          for (let r = await it.next(); r.done !== true; r = await it.next()) {}
        } catch (err) {
          error = ConnectError.from(err);
        }
        assert.equal(error?.code, Code.Unavailable, String(error));
        assert.ok(Date.now() - killedAt < 5_000, `noticed after ${Date.now() - killedAt} ms`);
      } finally {
        child.process.kill("SIGKILL");
        await child.process.exited;
      }
    },
  );

  test("a caller that vanishes mid-stream ends the handler with unavailable", TIMEOUT, async () => {
    const doomedNc = await connect({ servers: server.url });
    const client = createClient(ProductService, createNatsTransport({ nc: doomedNc, creditWindow: 1000 }));
    const it = client.watchProducts({ ids: ["tick", "vanished"] })[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.product?.id, "1");
    // Gone without a word: the server's next frame to the caller's inbox draws a 503.
    await doomedNc.close();
    await assert.rejects(it.next(), (err) => codeOf(err) === Code.Unavailable);
    assert.equal(codeOf(await endedFor("vanished").promise), Code.Unavailable);
  });

  test("a host that drains ends its open streams with unavailable", TIMEOUT, async () => {
    const namespace = "draining";
    const nc = await connect({ servers: server.url });
    try {
      const signalled = deferred<unknown>();
      const host = await serveServices(
        nc,
        [
          implement(ProductService, {
            async *watchProducts(_req, ctx) {
              yield snapshot("1");
              await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
              signalled.resolve(ctx.signal.reason);
            },
          }),
        ],
        { name: "draining-product", namespace, logger, ...FAKE },
      );
      const client = createClient(ProductService, createNatsTransport({ nc: clientNc, namespace }));
      const it = client.watchProducts({ ids: [] }, { timeoutMs: 20_000 })[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.product?.id, "1");
      assert.equal(host.inFlight, 1, "the open stream counts as in flight");
      await host.drain(50);
      assert.equal(host.inFlight, 0);
      await assert.rejects(it.next(), (err) => codeOf(err) === Code.Unavailable);
      assert.equal(codeOf(await signalled.promise), Code.Unavailable);
    } finally {
      await nc.close();
    }
  });

  test("every call inbox is released however its call ended", TIMEOUT, async () => {
    const subscriptions = async (): Promise<Record<string, string[]>> => {
      await clientNc.flush();
      await serverNc.flush();
      const connz = (await (await fetch(`${server.monitorUrl}/connz?subs=1`)).json()) as {
        connections: { name?: string; subscriptions_list?: string[] }[];
      };
      const lists: Record<string, string[]> = {};
      for (const c of connz.connections) {
        if (c.name === "stream-client" || c.name === "stream-server")
          lists[c.name] = (c.subscriptions_list ?? []).sort();
      }
      return lists;
    };
    const baseline = await subscriptions();
    assert.ok(
      baseline["stream-server"]?.includes(`${rpcServiceSubject(ProductService)}.*`),
      JSON.stringify(baseline),
    );
    assert.ok(baseline["stream-client"] !== undefined);
    // A clean end, an error, a client abort and a deadline.
    await drain(products().watchProducts({ ids: ["count", "", "5"] }));
    await drain(products().watchProducts({ ids: ["fail", "", "1"] }));
    const abort = new AbortController();
    const it = products()
      .watchProducts({ ids: ["hang", "leak-abort"] }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    await it.next();
    abort.abort();
    await assert.rejects(it.next());
    await drain(products().watchProducts({ ids: ["hang", "leak-deadline"] }, { timeoutMs: 100 }));
    await endedFor("leak-abort").promise;
    await endedFor("leak-deadline").promise;
    assert.deepEqual(await subscriptions(), baseline);
  });
});

describe("streaming calls across a cluster", () => {
  test(
    "a client on one node streams with an actor on another, both ways, within credit",
    TIMEOUT,
    async () => {
      await using cluster = await startNatsCluster({ jetstream: false });
      const [serverUrl = "", , clientUrl = ""] = cluster.urls;
      const serverNc = await connect({ servers: serverUrl });
      const clientNc = await connect({ servers: clientUrl });
      try {
        await serveServices(
          serverNc,
          [
            implement(ProductService, {
              async *lookupProducts(requests) {
                for await (const req of requests) yield { id: req.id, found: true };
              },
              async *watchProducts() {
                for (let i = 1; i <= 100; i++) yield { product: { id: String(i) } };
              },
            }),
          ],
          { name: "clustered-product", logger: silentLogger, ...FAKE },
        );
        const client = createClient(ProductService, createNatsTransport({ nc: clientNc, creditWindow: 4 }));
        // The queue subscription reaches the client's node asynchronously (route interest
        // propagation): retry, with a short backoff, until a call gets through.
        const interestDeadline = Date.now() + 10_000;
        for (;;) {
          const { error } = await drain(client.watchProducts({ ids: [] }));
          if (error === undefined) break;
          assert.ok(error.code === Code.Unavailable && Date.now() < interestDeadline, String(error));
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        // Each call's inbox is announced on one node and used from another: the NATS server must
        // know it before the peer's first frame (interest travels ahead of the message announcing it).
        for (let call = 0; call < 30; call++) {
          const requests = createWritableIterable<LookupRequest>();
          const responses = client.lookupProducts(requests)[Symbol.asyncIterator]();
          for (let i = 0; i < 5; i++) {
            await requests.write({ id: `${call}.${i}` });
            assert.equal((await responses.next()).value?.id, `${call}.${i}`);
          }
          requests.close();
          assert.equal((await responses.next()).done, true);
          const { items, error } = await drain(client.watchProducts({ ids: [] }));
          assert.equal(error, undefined);
          assert.equal(items.length, 100);
        }
      } finally {
        await clientNc.close();
        await serverNc.close();
      }
    },
  );
});

/**
 * A ProductService instance in its own process, on the runtime running this test, whose
 * WatchProducts sends one message and then stays silent until it is killed. Resolves `ready`
 * once it serves.
 */
function spawnServerProcess(url: string, namespace: string) {
  const root = new URL("../../", import.meta.url);
  const code = `
    import { connect } from "@nats-io/transport-node";
    import { serveServices } from ${JSON.stringify(new URL("runtime/host/serve-services.ts", root).href)};
    import { silentLogger } from ${JSON.stringify(new URL("runtime/observability/logger.ts", root).href)};
    import { ProductService } from ${JSON.stringify(new URL("proto/gen/shop/v1/product_pb.ts", root).href)};
    const nc = await connect({ servers: ${JSON.stringify(url)} });
    await serveServices(nc, [{ service: ProductService, implementation: {
      async *watchProducts() {
        yield { product: { id: "1" } };
        await new Promise(() => {}); // then silence: only the client's pings can notice the death
      },
    } }], { name: "doomed", namespace: ${JSON.stringify(namespace)}, logger: silentLogger, validateRequests: false });
    console.log("serving");
    setInterval(() => {}, 60_000);
  `;
  const runtime = globalThis as { Deno?: unknown; Bun?: unknown };
  const args =
    runtime.Deno !== undefined
      ? ["eval", code]
      : runtime.Bun !== undefined
        ? ["-e", code]
        : ["--input-type=module", "-e", code];
  const child = spawnProcess(process.execPath, args, { cwd: new URL(".", root).pathname });
  const ready = new Promise<void>((resolve, reject) => {
    const stop = child.onOutput(() => {
      if (child.output().includes("serving")) {
        stop();
        resolve();
      }
    });
    void child.exited.then((status) =>
      reject(new Error(`the server process exited (${JSON.stringify(status)}): ${child.output()}`)),
    );
  });
  return { process: child, ready };
}
