/**
 * The local CA and its certificates (runtime/security), checked by the runtime's own X.509
 * implementation (node:crypto: OpenSSL on Node, BoringSSL on Bun, Deno's), not by the library
 * that made them; and the local PKI folder that `troupe dev` keeps: reused while valid, renewed
 * when expiring or when the CA changes, keys 0600.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type CertificateFiles,
  createLocalCa,
  describeCertificate,
  ensureLocalCertificates,
  issueCertificate,
  type LocalCertificates,
  readCertificateFiles,
  writeCertificateFiles,
} from "troupe/security";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "troupe-certs-"));
  dirs.push(dir);
  return dir;
}
function clientOf(local: LocalCertificates, name: string): CertificateFiles {
  const files = local.clients[name];
  assert.ok(files, `a client certificate for ${name}`);
  return files;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("createLocalCa and issueCertificate", () => {
  test("a server certificate covers localhost, 127.0.0.1 and ::1 and chains to its CA", async () => {
    const ca = await createLocalCa({ commonName: "Test CA", validDays: 30 });
    const issued = await issueCertificate(ca, { commonName: "localhost", usage: "server" });
    assert.equal(issued.caPem, ca.certPem);
    assert.match(issued.keyPem, /^-----BEGIN PRIVATE KEY-----/);

    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(issued.certPem);
    assert.equal(caCert.ca, true);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(caCert), "the CA issued it");
    assert.ok(cert.verify(caCert.publicKey), "the CA's key signed it");
    assert.equal(cert.checkHost("localhost"), "localhost");
    assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(cert.checkIP("::1"), "::1");
    assert.equal(cert.checkHost("example.com"), undefined);
    assert.ok(new Date(cert.validTo).getTime() <= new Date(caCert.validTo).getTime(), "not past the CA");

    const other = await createLocalCa();
    assert.ok(!cert.verify(new X509Certificate(other.certPem).publicKey), "another CA did not sign it");
  });

  test("usage sets the extended key usage; a client certificate has no names unless given", async () => {
    const ca = await createLocalCa();
    const client = describeCertificate(
      (await issueCertificate(ca, { commonName: "order", usage: "client" })).certPem,
    );
    assert.deepEqual(
      { usage: client.usage, cn: client.commonName, dns: client.dnsNames, ip: client.ipAddresses },
      { usage: "client", cn: "order", dns: [], ip: [] },
    );
    const both = describeCertificate(
      (
        await issueCertificate(ca, {
          commonName: "n1",
          usage: "both",
          dnsNames: ["n1.local"],
          ipAddresses: [],
        })
      ).certPem,
    );
    assert.deepEqual([both.usage, both.dnsNames], ["both", ["n1.local"]]);
    const caFacts = describeCertificate(ca.certPem);
    assert.equal(caFacts.isCa, true);
    assert.equal(caFacts.commonName, "Troupe local CA");
  });

  test("refuses nonsense: a bad validity, a CA that is not PEM", async () => {
    await assert.rejects(createLocalCa({ validDays: 0 }), /validDays must be a positive number/);
    await assert.rejects(
      issueCertificate({ certPem: "nope", keyPem: "nope" }, { commonName: "x" }),
      /the CA certificate is not a PEM certificate/,
    );
  });
});

describe("certificate files", () => {
  test("writeCertificateFiles writes a bundle with a 0600 key, and reads back", async () => {
    const dir = join(tempDir(), "nested");
    const ca = await createLocalCa();
    const issued = await issueCertificate(ca, { commonName: "localhost" });
    const files = writeCertificateFiles(dir, "nats", issued);
    assert.deepEqual(files, {
      certFile: join(dir, "nats.pem"),
      keyFile: join(dir, "nats-key.pem"),
      caFile: join(dir, "ca.pem"),
    });
    assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
    assert.deepEqual(readCertificateFiles(files), issued);
    assert.throws(() => writeCertificateFiles(dir, "../escape", issued), /a certificate name must be/);
  });

  test("ensureLocalCertificates is idempotent, renews what expires, and follows a new CA", async () => {
    const dir = tempDir();
    const first = await ensureLocalCertificates(dir, { clients: ["order", "gateway"] });
    assert.equal(first.written.length, 8, "CA, server and two clients: a key and a certificate each");
    for (const file of first.written.filter((f) => f.endsWith("-key.pem"))) {
      assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is private`);
    }
    const server = new X509Certificate(readCertificateFiles(first.server)?.certPem ?? "");
    assert.equal(server.checkIP("::1"), "::1");
    const order = describeCertificate(readCertificateFiles(clientOf(first, "order"))?.certPem ?? "");
    assert.deepEqual([order.commonName, order.usage], ["order", "client"]);

    const again = await ensureLocalCertificates(dir, { clients: ["order", "gateway"] });
    assert.deepEqual(again.written, [], "everything valid is reused");
    assert.deepEqual(again.server, first.server);

    unlinkSync(clientOf(first, "gateway").certFile);
    const repaired = await ensureLocalCertificates(dir, { clients: ["order", "gateway", "email"] });
    assert.deepEqual(
      [...repaired.written].sort(),
      [
        clientOf(first, "gateway").certFile,
        clientOf(first, "gateway").keyFile,
        join(dir, "client-email.pem"),
        join(dir, "client-email-key.pem"),
      ].sort(),
    );

    // Within the renewal window: the leaves (90 days) are renewed, the CA (365 days) is kept.
    const renewed = await ensureLocalCertificates(dir, { clients: ["order"], renewBeforeDays: 100 });
    assert.ok(!renewed.written.includes(renewed.caFile), "the CA is still good");
    assert.ok(renewed.written.includes(renewed.server.certFile), "the server certificate is renewed");

    // A CA replaced behind its back: every certificate is issued anew by the new one.
    writeFileSync(join(dir, "ca-key.pem"), (await createLocalCa()).keyPem);
    const reissued = await ensureLocalCertificates(dir, { clients: ["order"] });
    assert.ok(reissued.written.includes(reissued.caFile));
    assert.ok(reissued.written.includes(reissued.server.certFile));
    assert.ok(reissued.written.includes(clientOf(reissued, "order").certFile));
    const caCert = new X509Certificate(readCertificateFiles(reissued.server)?.caPem ?? "");
    const serverCert = new X509Certificate(readCertificateFiles(reissued.server)?.certPem ?? "");
    assert.ok(serverCert.verify(caCert.publicKey));
  });
});
