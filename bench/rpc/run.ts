/**
 * bench/rpc driver: unary Echo calls through Troupe, raw nats.js `nc.request`, a minimal NATS
 * request multiplexer, Connect over HTTP/2, and (by name) Moleculer and NestJS microservices on the
 * same nats-server, with client and server in separate processes, on each runtime under test.
 * Starts its own nats-server (never the system one), runs every peer once per round, rotating the
 * order of peers (and runtimes) from round to round so that drift hits all of them alike, and
 * prints Markdown tables of the medians over rounds (shared/run-driver.ts). Progress goes to
 * stderr; the report to stdout.
 *
 *   node_modules/.bin/node --conditions=troupe-source bench/rpc/run.ts [--runtimes bun,node] [--rounds 3] [--seconds 3]
 *     [--peers raw,mux,connect,troupe,policies,tls,raw-tls,secured,moleculer,nestjs] [--sizes 100,4096] [--json results.json]
 *
 * See run-options.ts for every flag and bench/README.md for the method and the results.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createAuthKeys,
  ensureLocalCertificates,
  issueUser,
  permissionsOf,
  serverAuth,
} from "troupe/security";
import { type NatsServer, startNatsServer } from "troupe/testing";
import { BenchService } from "../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { BENCH_USER } from "../shared/nats-tls.ts";
import { rate } from "../shared/rate.ts";
import { runDriver } from "../shared/run-driver.ts";
import { TLS_PEERS } from "./peers.ts";
import { resultsChart } from "./results-chart.ts";
import { resultsTable } from "./results-table.ts";
import { runMeasurement } from "./run-measurement.ts";
import { parseRunOptions } from "./run-options.ts";

const options = parseRunOptions(process.argv.slice(2));

// The "tls" and "raw-tls" peers: the Troupe and raw peers on a second nats-server whose client port speaks TLS, with a
// certificate from troupe/security's local CA; its processes find the CA in NATS_CA.
let tlsServer: NatsServer | undefined;
// The "secured" peer: a third one, which also demands credentials (docs/adr/0030-credentials-from-declarations.md);
// server and client connect as the user a declaration that serves and calls BenchService derives.
let securedServer: NatsServer | undefined;
const certDir = mkdtempSync(join(tmpdir(), "troupe-bench-tls-"));
if (options.peers.some((peer) => TLS_PEERS.includes(peer))) {
  const certs = await ensureLocalCertificates(certDir);
  tlsServer = await startNatsServer({ jetstream: false, tls: { ...certs.server } });
  process.env.NATS_CA = certs.caFile;
  process.stderr.write(`TLS nats-server ${tlsServer.version} at ${tlsServer.url}\n`);
  if (options.peers.includes("secured")) {
    const keys = createAuthKeys();
    securedServer = await startNatsServer({
      jetstream: false,
      tls: { ...certs.server },
      config: (await serverAuth(keys)).config,
    });
    const declaration = {
      name: BENCH_USER,
      version: "0.0.0",
      serves: [BenchService.typeName],
      calls: [BenchService.typeName],
      publishes: { events: [], jobs: [] },
      consumes: { events: [], jobs: [] },
      state: [],
    };
    const credsFile = join(certDir, "bench.creds");
    writeFileSync(
      credsFile,
      (await issueUser(keys, BENCH_USER, { permissions: permissionsOf(declaration) })).creds,
      {
        mode: 0o600,
      },
    );
    process.env.BENCH_SECURED_URL = securedServer.url;
    process.env.BENCH_SECURED_CREDS = credsFile;
    process.stderr.write(
      `nats-server with credentials and TLS ${securedServer.version} at ${securedServer.url}\n`,
    );
  }
}

try {
  await runDriver({
    path: "bench/rpc/run.ts",
    options,
    jetstream: false,
    async *measure(site) {
      const natsUrl =
        site.peer === "secured" && securedServer !== undefined
          ? securedServer.url
          : TLS_PEERS.includes(site.peer) && tlsServer !== undefined
            ? tlsServer.url
            : site.natsUrl;
      yield { run: await runMeasurement({ ...site, natsUrl }, options) };
    },
    summary: (run) =>
      run.sizes
        .map(
          (s) =>
            `${s.sizeBytes} B: p50 ${Math.round(s.p50Us)} µs, p99 ${Math.round(s.p99Us)} µs, ` +
            `${rate(s.callsPerSecond)} calls/s`,
        )
        .join("; "),
    table: (measurements) => resultsTable(options, measurements),
    chart: (measurements) => resultsChart(options, measurements),
  });
} finally {
  await tlsServer?.dispose();
  await securedServer?.dispose();
  rmSync(certDir, { recursive: true, force: true });
}
