/**
 * The `troupe` verbs for services and calls (docs/guide/cli.md, docs/adr/0023-the-troupe-cli.md)
 * against a real nats-server and the shop's product and inventory actors, with a product canary
 * (1.1.0) beside the stable one: ls and info show both versions, call works for all four method
 * kinds from the descriptors the actors publish (no .proto here), reaches the canary by version,
 * range or instance, follows a routing record that `routes set` wrote, and explains an unknown
 * service, an unknown method and bad JSON in one line; stats sums the instances; doctor checks
 * the server. The commands run in-process with their output and stdin captured.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type RunningActor, serveActor, silentLogger } from "troupe";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { createInventoryActor } from "../../actors/inventory/actor.ts";
import { productActor } from "../../actors/product/actor.ts";
import { collectingIo } from "../../runtime/cli/command-io.ts";
import { runCall } from "../../runtime/cli/commands/call-command.ts";
import { runDoctor } from "../../runtime/cli/commands/doctor-command.ts";
import { runInfo } from "../../runtime/cli/commands/info-command.ts";
import { runLs } from "../../runtime/cli/commands/ls-command.ts";
import { runRoutes } from "../../runtime/cli/commands/routes-command.ts";
import { runStats } from "../../runtime/cli/commands/stats-command.ts";
import { withTimeout } from "../support/jetstream-test-kit.ts";

const TIMEOUT = { timeout: 60_000 };
const NAMESPACE = "clitest";
const PRODUCT = "shop.v1.ProductService";

const VERBS = {
  ls: runLs,
  info: runInfo,
  stats: runStats,
  call: runCall,
  routes: runRoutes,
  doctor: runDoctor,
} as const;

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

describe("troupe ls, info, stats, call, routes, doctor", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const actors: RunningActor[] = [];
  let stable: RunningActor;
  let canary: RunningActor;

  /** `troupe <verb> <args>` against the test server, stdin given as lines. */
  async function troupe(verb: keyof typeof VERBS, args: string[], stdin: string[] = []): Promise<Ran> {
    const io = collectingIo(stdin);
    const code = await VERBS[verb]([...args, "--server", server.url, "--namespace", NAMESPACE], io);
    return { code, out: io.outLines.join("\n"), err: io.errLines.join("\n") };
  }

  /** The GetProduct requests each product instance has served, from `troupe stats --json`. */
  async function getProductCounts(): Promise<Record<string, number>> {
    const { code, out } = await troupe("stats", ["product", "--json"]);
    assert.equal(code, 0);
    const [report] = JSON.parse(out) as {
      endpoints: { method: string; instances: { id: string; requests: number }[] }[];
    }[];
    const endpoint = report?.endpoints.find((e) => e.method === `${PRODUCT}/GetProduct`);
    assert.ok(endpoint, "stats lists GetProduct");
    return Object.fromEntries(endpoint.instances.map((i) => [i.id, i.requests]));
  }

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const options = { logger: silentLogger, namespace: NAMESPACE };
    actors.push(await serveActor(nc, createInventoryActor({ expirySweepMs: 60_000 }), options));
    stable = await serveActor(nc, productActor, options);
    canary = await serveActor(nc, { ...productActor, version: "1.1.0" }, options);
    actors.push(stable, canary);
  }, TIMEOUT);

  after(async () => {
    await Promise.all(actors.map((a) => a.drain(0)));
    await nc?.close();
    await server?.dispose();
  });

  test(
    "ls shows every version that runs, so the canary is visible; --json for scripts",
    TIMEOUT,
    async () => {
      const table = await troupe("ls", []);
      assert.equal(table.code, 0, table.err);
      assert.match(table.out, /^SERVICE\s+VERSIONS\s+INSTANCES\s+ENDPOINTS\s+SERVES/m);
      assert.match(table.out, /^product\s+1\.0\.0 ×1, 1\.1\.0 ×1\s+2\s+4\s+shop\.v1\.ProductService/m);
      assert.match(table.out, /^inventory\s+1\.0\.0\s+1\s/m);
      const json = JSON.parse((await troupe("ls", ["product", "--json"])).out);
      assert.deepEqual(json[0].versions, { "1.0.0": 1, "1.1.0": 1 });
      assert.equal(json[0].instances, 2);
      const missing = await troupe("ls", ["nosuch"]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /no instance of service "nosuch"/);
    },
  );

  test("info lists each instance with its own version, the endpoints and the subjects", TIMEOUT, async () => {
    const { code, out, err } = await troupe("info", ["product"]);
    assert.equal(code, 0, err);
    assert.match(out, /versions\s+1\.0\.0 \(1 instance\), 1\.1\.0 \(1 instance\)/);
    assert.match(out, new RegExp(`^${stable.id}\\s+1\\.0\\.0\\s`, "m"));
    assert.match(out, new RegExp(`^${canary.id}\\s+1\\.1\\.0\\s`, "m"));
    assert.match(
      out,
      /^shop\.v1\.ProductService\/LookupProducts\s+bidi_streaming\s+all\s+shop\.v1\.LookupProductsRequest/m,
    );
    assert.match(out, /clitest\.rpc\.shop\.v1\.ProductService\.<Method>\.v\.1_1_0/);
    assert.match(out, new RegExp(`clitest\\.rpc\\.shop\\.v1\\.ProductService\\.<Method>\\.${canary.id}`));
    const json = JSON.parse((await troupe("info", ["product", "--json"])).out) as {
      id: string;
      version: string;
    }[];
    assert.deepEqual(json.map((i) => i.version).sort(), ["1.0.0", "1.1.0"]);
    const unknown = await troupe("info", ["nosuch"]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.err,
      /^troupe info: no instance of service "nosuch" answered; the services are: inventory, product$/,
    );
  });

  test("a unary call prints the response as JSON, with headers sent as metadata", TIMEOUT, async () => {
    const sub = nc.subscribe(`${NAMESPACE}.rpc.${PRODUCT}.GetProduct.>`, { max: 1 });
    const seen = (async (): Promise<Msg | undefined> => {
      for await (const m of sub) return m;
      return undefined;
    })();
    const { code, out, err } = await troupe("call", [
      `${PRODUCT}/GetProduct`,
      '{"id":"p-1001"}',
      "--instance",
      stable.id,
      "-H",
      "x-request-note: from the cli",
    ]);
    assert.equal(code, 0, err);
    const response = JSON.parse(out);
    assert.equal(response.product.id, "p-1001");
    assert.match(out, /^\{\n {2}"product"/, "pretty for people");
    const msg = await withTimeout(seen, 5_000, () => "the request on the instance subject");
    assert.equal(msg?.headers?.get("x-request-note"), "from the cli");
    const compact = await troupe("call", [`${PRODUCT}.ListProducts`, "--json"]);
    assert.equal(compact.code, 0, compact.err);
    assert.equal(compact.out.split("\n").length, 1);
    assert.ok(JSON.parse(compact.out).products.length >= 4);
  });

  test("server streaming prints NDJSON; --count ends the stream", TIMEOUT, async () => {
    const { code, out, err } = await troupe("call", [
      `${PRODUCT}/WatchProducts`,
      '{"ids":["p-1001","p-1002"]}',
      "--count",
      "2",
    ]);
    assert.equal(code, 0, err);
    const lines = out.split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.product.id),
      ["p-1001", "p-1002"],
    );
  });

  test("client streaming reads NDJSON from stdin; bidi answers line by line", TIMEOUT, async () => {
    const imported = await troupe(
      "call",
      ["shop.v1.InventoryService/ImportStock"],
      ['{"productId":"p-1003","onHand":"7"}', "", '{"product_id":"p-1004","on_hand":9}'],
    );
    assert.equal(imported.code, 0, imported.err);
    assert.equal(JSON.parse(imported.out).received, "2");
    const stock = await troupe("call", [
      "shop.v1.InventoryService/GetStock",
      '{"productId":"p-1004"}',
      "--json",
    ]);
    assert.equal(JSON.parse(stock.out).stock.onHand, "9");

    const lookup = await troupe("call", [`${PRODUCT}/LookupProducts`], ['{"id":"p-1002"}', '{"id":"nope"}']);
    assert.equal(lookup.code, 0, lookup.err);
    const answers = lookup.out.split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(
      answers.map((a) => [a.id, a.found === true]),
      [
        ["p-1002", true],
        ["nope", false],
      ],
    );
  });

  test("unknown service, unknown method and bad JSON are one clear line and exit 1", TIMEOUT, async () => {
    const service = await troupe("call", ["shop.v1.NopeService/Get"]);
    assert.equal(service.code, 1);
    assert.match(
      service.err,
      /^troupe call: no running service serves shop\.v1\.NopeService; the services are: shop\.v1\.InventoryService, shop\.v1\.ProductService$/,
    );
    const method = await troupe("call", [`${PRODUCT}/GetProdukt`]);
    assert.equal(method.code, 1);
    assert.match(method.err, /has no method "GetProdukt"; its methods: .*GetProduct.*WatchProducts/);
    const field = await troupe("call", [`${PRODUCT}/GetProduct`, '{"idd":"p-1001"}']);
    assert.equal(field.code, 1);
    assert.match(field.err, /^troupe call: the request is not a shop\.v1\.GetProductRequest: .*"idd"/);
    const type = await troupe("call", [`${PRODUCT}/WatchProducts`, '{"ids":"p-1"}']);
    assert.match(type.err, /ids/);
    const notJson = await troupe("call", [`${PRODUCT}/GetProduct`, "{id:1}"]);
    assert.match(notJson.err, /^troupe call: the request is not JSON: /);
    const line = await troupe(
      "call",
      ["shop.v1.InventoryService/ImportStock"],
      ['{"productId":"p-1003","onHand":"1"}', '{"productId":"p-1003","onHnad":"2"}'],
    );
    assert.equal(line.code, 1);
    assert.match(line.err, /^troupe call: stdin line 2 is not a shop\.v1\.ImportStockRequest: .*onHnad/);
    const server = await troupe("call", [`${PRODUCT}/GetProduct`, '{"id":"p-9999"}']);
    assert.equal(server.code, 1);
    assert.match(server.err, /^troupe call: not_found: /);
    await assert.rejects(
      troupe("call", [`${PRODUCT}/ImportStock`, "{}", "--version", "x.y"]),
      /--version must be/,
    );
  });

  test("--version reaches the canary, exactly or by range; --instance one instance", TIMEOUT, async () => {
    const before = await getProductCounts();
    for (const version of ["1.1.0", "^1.1.0", ">=1.0.0"]) {
      const { code, err } = await troupe("call", [
        `${PRODUCT}/GetProduct`,
        '{"id":"p-1001"}',
        "--version",
        version,
      ]);
      assert.equal(code, 0, err);
    }
    const afterCalls = await getProductCounts();
    assert.equal((afterCalls[canary.id] ?? 0) - (before[canary.id] ?? 0), 3, "all three went to 1.1.0");
    assert.equal(afterCalls[stable.id], before[stable.id], "none went to 1.0.0");
    const none = await troupe("call", [`${PRODUCT}/GetProduct`, '{"id":"p-1001"}', "--version", "^2"]);
    assert.equal(none.code, 1);
    assert.match(
      none.err,
      /no running version of shop\.v1\.ProductService matches \^2; running: 1\.0\.0, 1\.1\.0/,
    );
    const stranger = await troupe("call", [`${PRODUCT}/GetProduct`, "{}", "--instance", "nobody"]);
    assert.match(stranger.err, /no instance "nobody" serves/);
  });

  test("routes set then get; a call without --version follows the record", TIMEOUT, async () => {
    const empty = await troupe("routes", ["get"]);
    assert.equal(empty.code, 0, empty.err);
    assert.match(empty.out, /no routing records/);

    const set = await troupe("routes", ["set", PRODUCT, "1.0.0=0", "1.1.0=5"]);
    assert.equal(set.code, 0, set.err);
    const got = await troupe("routes", ["get"]);
    assert.match(got.out, /^shop\.v1\.ProductService\s+1\.0\.0\s+0\s+0%\s+1$/m);
    assert.match(got.out, /^shop\.v1\.ProductService\s+1\.1\.0\s+5\s+100%\s+1$/m);
    assert.deepEqual(JSON.parse((await troupe("routes", ["get", PRODUCT, "--json"])).out), {
      [PRODUCT]: { weights: { "1.0.0": 0, "1.1.0": 5 } },
    });
    const before = await getProductCounts();
    for (let i = 0; i < 3; i++) {
      const call = await troupe("call", [`${PRODUCT}/GetProduct`, '{"id":"p-1002"}']);
      assert.equal(call.code, 0, call.err);
    }
    const afterCalls = await getProductCounts();
    assert.equal((afterCalls[canary.id] ?? 0) - (before[canary.id] ?? 0), 3, "the record sends all to 1.1.0");

    const typo = await troupe("routes", ["set", "shop.v1.ProdcutService", "1.0.0=1"]);
    assert.equal(typo.code, 1);
    assert.match(typo.err, /no running instance serves shop\.v1\.ProdcutService/);
    const warned = await troupe("routes", ["set", PRODUCT, "1.0.0=9", "3.0.0=1"]);
    assert.equal(warned.code, 0);
    assert.match(warned.err, /no instance of shop\.v1\.ProductService runs version 3\.0\.0/);
    assert.match(warned.out, /^shop\.v1\.ProductService\s+1\.0\.0\s+9\s+90%\s+1$/m);
    const deleted = await troupe("routes", ["delete", PRODUCT]);
    assert.equal(deleted.code, 0, deleted.err);
    assert.match(
      (await troupe("routes", ["get", PRODUCT])).out,
      /no routing record for shop\.v1\.ProductService/,
    );
  });

  test("stats: per endpoint, summed and per instance, with percentiles", TIMEOUT, async () => {
    const { code, out, err } = await troupe("stats", ["product"]);
    assert.equal(code, 0, err);
    assert.match(out, /^product {2}\(2 instances\)$/m);
    const all = new RegExp(
      `^ {2}${PRODUCT}/GetProduct\\s+all\\s+(\\d+)\\s+(\\d+)\\s+0\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)`,
      "m",
    ).exec(out);
    assert.ok(all, out);
    assert.ok(Number(all[1]) >= 8, "the calls of the tests before are counted");
    assert.ok(Number(all[2]) >= 1, "the not_found one is an error");
    assert.notEqual(all[3], "-", "a p50 from the histogram");
    assert.match(out, new RegExp(`^\\s+${canary.id} \\(1\\.1\\.0\\)\\s+\\d+`, "m"));
    const json = JSON.parse((await troupe("stats", ["product", "--json"])).out);
    const endpoint = json[0].endpoints.find((e: { method: string }) => e.method === `${PRODUCT}/GetProduct`);
    const summed = endpoint.instances.reduce((n: number, i: { requests: number }) => n + i.requests, 0);
    assert.equal(endpoint.total.requests, summed);
    assert.ok(endpoint.total.p99_seconds >= endpoint.total.p50_seconds);
    assert.ok(endpoint.total.by_code.not_found >= 1);
  });

  test(
    "doctor: server version, JetStream and limits, max_payload, clock skew, services",
    TIMEOUT,
    async () => {
      const { code, out, err } = await troupe("doctor", []);
      assert.equal(code, 0, `${out}\n${err}`);
      assert.match(out, /^ok {4}server\s+nats-server 2\.\d+\.\d+ at nats:\/\/.* \(≥ 2\.11\.0\)$/m);
      assert.match(out, /^ok {4}jetstream\s+enabled; limits: memory unlimited/m);
      assert.match(out, /^ok {4}max_payload\s+1\.0 MiB/m);
      assert.match(
        out,
        /^ok {4}clock\s+the server is .* \(±\d+ ms; from the time in a STREAM\.INFO reply for /m,
      );
      assert.match(out, /^ok {4}services\s+3 instances of 2 services answer PING$/m);
      const checks = JSON.parse((await troupe("doctor", ["--json"])).out) as {
        name: string;
        data?: { skew_ms?: number };
      }[];
      const skew = checks.find((c) => c.name === "clock")?.data?.skew_ms;
      assert.ok(typeof skew === "number" && Math.abs(skew) < 1_000, `same machine, skew ${skew} ms`);
    },
  );

  test("a server that is not there is one line and exit 1", TIMEOUT, async () => {
    const io = collectingIo();
    const code = await runLs(["--server", "nats://127.0.0.1:1"], io);
    assert.equal(code, 1);
    assert.deepEqual(io.outLines, []);
    assert.match(io.errLines.join("\n"), /^troupe ls: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: /);
  });
});
