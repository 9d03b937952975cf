/**
 * NATS over TLS on every runtime (docs/adr/0028-tls-on-every-hop.md): the harness's nats-server
 * with a `tls {}` block, certificates from troupe/security in a temp folder, and the clients of
 * the runtime (`connect`, `connectFromEnv` with NATS_CA, NATS_CERT and NATS_KEY, the CLI's
 * connection). A client that cannot verify the server, or that the server does not accept, is
 * refused promptly with an error naming the server and what to set; never a hang.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as connectSocket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "troupe";
import {
  type CertificateFiles,
  createLocalCa,
  ensureLocalCertificates,
  issueCertificate,
  type LocalCertificates,
  writeCertificateFiles,
} from "troupe/security";
import { type NatsServer, startNatsCluster, startNatsServer } from "troupe/testing";
import { connectCli } from "../../runtime/cli/cli-connection.ts";
import { connectFromEnv } from "../../runtime/process/process-env.ts";

const TIMEOUT = { timeout: 60_000 };
/** Far below nats.js's 20 s connect timeout: a refusal must not wait for it. */
const PROMPT_MS = 5_000;
const TLS_VARIABLES = ["NATS_URL", "NATS_CA", "NATS_CERT", "NATS_KEY"] as const;

let dir: string;
let certs: LocalCertificates;
/** A server certificate for localhost from another CA, and a client certificate of that CA. */
let strangerServer: CertificateFiles;
let strangerClient: CertificateFiles;
let tlsServer: NatsServer;
let mutualServer: NatsServer;
let plainServer: NatsServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "troupe-tls-test-"));
  certs = await ensureLocalCertificates(join(dir, "pki"), { clients: ["order"] });
  const stranger = await createLocalCa({ commonName: "Stranger CA" });
  strangerServer = writeCertificateFiles(
    join(dir, "stranger"),
    "server",
    await issueCertificate(stranger, { commonName: "localhost" }),
  );
  strangerClient = writeCertificateFiles(
    join(dir, "stranger"),
    "order",
    await issueCertificate(stranger, { commonName: "order", usage: "client" }),
  );
  [tlsServer, mutualServer, plainServer] = await Promise.all([
    startNatsServer({ jetstream: false, tls: { ...certs.server } }),
    startNatsServer({ jetstream: false, tls: { ...certs.server, verify: true } }),
    startNatsServer({ jetstream: false }),
  ]);
});

after(async () => {
  await Promise.all([tlsServer?.dispose(), mutualServer?.dispose(), plainServer?.dispose()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` with the TLS variables set as given (the others unset), then restores them. */
async function withEnv<T>(
  vars: Partial<Record<(typeof TLS_VARIABLES)[number], string>>,
  body: () => Promise<T>,
) {
  const saved = TLS_VARIABLES.map((name) => [name, process.env[name]] as const);
  for (const name of TLS_VARIABLES) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

async function echoes(nc: NatsConnection): Promise<void> {
  const sub = nc.subscribe("tls.echo", {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  try {
    const reply = await nc.request("tls.echo", "over tls", { timeout: 5_000 });
    assert.equal(reply.string(), "over tls");
  } finally {
    sub.unsubscribe();
  }
}

/** Expects `attempt` to be refused within PROMPT_MS with a message matching every pattern. */
async function refusedPromptly(attempt: () => Promise<NatsConnection>, ...patterns: RegExp[]): Promise<void> {
  const started = Date.now();
  let nc: NatsConnection | undefined;
  try {
    nc = await attempt();
  } catch (err) {
    const elapsed = Date.now() - started;
    const message = err instanceof Error ? err.message : String(err);
    for (const pattern of patterns) assert.match(message, pattern);
    assert.ok(elapsed < PROMPT_MS, `refused after ${elapsed} ms: ${message}`);
    return;
  }
  await nc.close();
  assert.fail("the connection was accepted");
}

describe("NATS over TLS", () => {
  test("the harness serves TLS on a tls:// URL, and readiness still works", TIMEOUT, () => {
    assert.match(tlsServer.url, /^tls:\/\/127\.0\.0\.1:\d+$/);
    assert.match(plainServer.url, /^nats:\/\//);
    assert.ok(tlsServer.running && mutualServer.running);
  });

  test(
    "a client verifies the server against the CA, talks, and reconnects after a restart",
    TIMEOUT,
    async () => {
      const nc = await connect({
        servers: tlsServer.url,
        tls: { caFile: certs.caFile },
        reconnectTimeWait: 100,
      });
      try {
        assert.equal(nc.info?.tls_required, true);
        await echoes(nc);
        const reconnected = (async () => {
          for await (const status of nc.status()) if (status.type === "reconnect") return;
        })();
        await tlsServer.restart();
        await reconnected;
        await echoes(nc);
      } finally {
        await nc.close();
      }
    },
  );

  test("connectFromEnv takes NATS_CA and connects over TLS", TIMEOUT, async () => {
    await withEnv({ NATS_URL: tlsServer.url, NATS_CA: certs.caFile }, async () => {
      const nc = await connectFromEnv("tls-test");
      try {
        await echoes(nc);
      } finally {
        await nc.close();
      }
    });
  });

  test(
    "a server certificate from another CA is refused, naming the server and NATS_CA",
    TIMEOUT,
    async () => {
      await withEnv({ NATS_URL: tlsServer.url, NATS_CA: strangerServer.caFile }, () =>
        refusedPromptly(
          () => connectFromEnv("tls-test"),
          new RegExp(`cannot connect to NATS at ${tlsServer.url.replace(/[.]/g, "\\.")}`),
          /not signed by a CA this client trusts; set NATS_CA/,
        ),
      );
    },
  );

  test(
    "a client without the CA is refused too: no system CA signed a local certificate",
    TIMEOUT,
    async () => {
      const url = tlsServer.url.replace("tls://", "nats://");
      await withEnv({ NATS_URL: url }, () =>
        refusedPromptly(
          () => connectFromEnv("tls-test"),
          /cannot connect to NATS at nats:\/\//,
          /set NATS_CA/,
        ),
      );
    },
  );

  test("the server's certificate must name the host dialled, an IP address too", TIMEOUT, async () => {
    const ca = await createLocalCa();
    const named = async (name: string, dnsNames: string[], ipAddresses: string[]) => {
      const files = writeCertificateFiles(
        join(dir, name),
        "server",
        await issueCertificate(ca, { commonName: name, dnsNames, ipAddresses }),
      );
      return startNatsServer({ jetstream: false, tls: { ...files } });
    };
    const elsewhere = await named("nats.example", ["nats.example"], []);
    const byIp = await named("ip-only", [], ["127.0.0.1"]);
    const caFile = join(dir, "nats.example", "ca.pem");
    try {
      await withEnv({ NATS_URL: elsewhere.url, NATS_CA: caFile }, () =>
        refusedPromptly(() => connectFromEnv("tls-test"), /does not name the host in the server URL/),
      );
      // Node and Deno would check "localhost" for an IP URL unless told the host (nats-connect.ts).
      const nc = await connect({ servers: byIp.url, tls: { caFile } });
      await nc.close();
    } finally {
      await Promise.all([elsewhere.dispose(), byIp.dispose()]);
    }
  });

  test("a cleartext client is refused by the server", TIMEOUT, async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connectSocket(tlsServer.port, "127.0.0.1");
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => {
        if (text === "") socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
        text += chunk;
      });
      socket.on("error", () => resolve(text));
      socket.on("close", () => resolve(text));
      setTimeout(() => reject(new Error(`no refusal within 10 s, got: ${text}`)), 10_000).unref?.();
    });
    assert.match(answer, /"tls_required":true/);
    assert.doesNotMatch(answer, /PONG/, "the server never answers a cleartext client");
  });

  test("a tls:// URL demands TLS: a cleartext server is refused", TIMEOUT, async () => {
    const url = plainServer.url.replace("nats://", "tls://");
    await withEnv({ NATS_URL: url }, () =>
      refusedPromptly(() => connectFromEnv("tls-test"), /server does not support 'tls'/),
    );
  });

  test("a cluster serves TLS on every member and places replicated streams", TIMEOUT, async () => {
    await assert.rejects(
      startNatsCluster({ tls: { ...certs.server, verify: true } }),
      /does not support tls\.verify/,
    );
    // Readiness placed an R3 stream through a TLS connection, so each member took the CA.
    await using cluster = await startNatsCluster({ size: 3, tls: { ...certs.server } });
    assert.ok(cluster.urls.every((url) => url.startsWith("tls://")));
    const nc = await connect({ servers: [...cluster.urls], tls: { caFile: certs.caFile } });
    try {
      await echoes(nc);
    } finally {
      await nc.close();
    }
  });

  test("unreadable files and a certificate without its key are named", TIMEOUT, async () => {
    await withEnv({ NATS_URL: tlsServer.url, NATS_CA: join(dir, "missing.pem") }, () =>
      assert.rejects(connectFromEnv("tls-test"), /cannot read NATS_CA file .*missing\.pem/),
    );
    await withEnv({ NATS_URL: tlsServer.url, NATS_CERT: certs.server.certFile }, () =>
      assert.rejects(connectFromEnv("tls-test"), /NATS_CERT and NATS_KEY go together/),
    );
  });
});

describe("mutual TLS", () => {
  test("a client with a certificate of the server's CA connects", TIMEOUT, async () => {
    const order = certs.clients.order;
    assert.ok(order);
    await withEnv(
      {
        NATS_URL: mutualServer.url,
        NATS_CA: certs.caFile,
        NATS_CERT: order.certFile,
        NATS_KEY: order.keyFile,
      },
      async () => {
        const nc = await connectFromEnv("order");
        try {
          assert.equal(nc.info?.tls_verify, true);
          await echoes(nc);
        } finally {
          await nc.close();
        }
      },
    );
  });

  test("a client without a certificate is refused, told to set NATS_CERT and NATS_KEY", TIMEOUT, async () => {
    await withEnv({ NATS_URL: mutualServer.url, NATS_CA: certs.caFile }, () =>
      refusedPromptly(
        () => connectFromEnv("order"),
        new RegExp(`cannot connect to NATS at ${mutualServer.url.replace(/[.]/g, "\\.")}`),
        /demands a client certificate .*set NATS_CERT and NATS_KEY/,
      ),
    );
  });

  test("a client certificate from another CA is refused promptly", TIMEOUT, async () => {
    await withEnv(
      {
        NATS_URL: mutualServer.url,
        NATS_CA: certs.caFile,
        NATS_CERT: strangerClient.certFile,
        NATS_KEY: strangerClient.keyFile,
      },
      () => refusedPromptly(() => connectFromEnv("order"), /may refuse this client's certificate/),
    );
    await refusedPromptly(
      () =>
        connect({
          servers: mutualServer.url,
          tls: { caFile: certs.caFile, certFile: strangerClient.certFile, keyFile: strangerClient.keyFile },
        }),
      /./,
    );
  });

  test("the CLI's connection reads the same variables", TIMEOUT, async () => {
    const order = certs.clients.order;
    assert.ok(order);
    const args = { server: mutualServer.url, namespace: "", dataDir: join(dir, "no-dev") };
    await withEnv({ NATS_CA: certs.caFile, NATS_CERT: order.certFile, NATS_KEY: order.keyFile }, async () => {
      const nc = await connectCli(args);
      await nc.close();
    });
    await withEnv({ NATS_CA: certs.caFile }, () =>
      refusedPromptly(() => connectCli(args), /demands a client certificate/),
    );
  });
});
