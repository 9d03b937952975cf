/**
 * JWT algorithm confusion is refused whatever the configuration (docs/adr/0029-a-hardened-edge.md):
 * real forged tokens — `alg: none`, HS256 "signed" with the public key (PEM text, DER bytes, JWK
 * JSON) as the HMAC secret, a token carrying its own key in its header, an algorithm the key was
 * not imported for — get 401 from the gateway on REST, Connect and gRPC; and a configuration that
 * would let a symmetric algorithm in is refused when the gateway starts.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, SignJWT } from "jose";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { createAuthenticator } from "../../runtime/gateway/authenticate.ts";
import { AUDIENCE, type GatewayFixture, ISSUER, startGatewayFixture } from "../support/gateway-fixture.ts";

const TIMEOUT = { timeout: 30_000 };

const base64url = (data: string | Uint8Array) => Buffer.from(data).toString("base64url");

/** An unsecured JWT (RFC 7519 §6): `alg: none` and an empty signature. */
function unsecured(claims: Record<string, unknown>, alg = "none"): string {
  return `${base64url(JSON.stringify({ alg, typ: "JWT" }))}.${base64url(JSON.stringify(claims))}.`;
}

/** An HS256 token whose HMAC secret is `secret`: here, some encoding of the gateway's public key. */
function hmacSigned(secret: Uint8Array, subject: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(secret);
}

/** The DER bytes of a PEM SPKI key. */
function derOf(pem: string): Uint8Array {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
}

describe("forged tokens at the gateway", () => {
  let fx: GatewayFixture;
  /** Forged tokens for the user "mallory", by how they were made. */
  const forged: [string, string][] = [];
  before(async () => {
    fx = await startGatewayFixture();
    const claims = {
      sub: "mallory",
      iss: ISSUER,
      aud: AUDIENCE,
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 300,
    };
    const pem = fx.publicKeyPem;
    const jwk = JSON.stringify(await exportJWK(await importSPKI(pem, "ES256", { extractable: true })));
    forged.push(
      ["alg none", unsecured(claims)],
      ["alg None", unsecured(claims, "None")],
      ["alg none with a signature", `${unsecured(claims)}${base64url("sig")}`],
      ["HS256 with the PEM text as secret", await hmacSigned(new TextEncoder().encode(pem), "mallory")],
      ["HS256 with the PEM text, trimmed", await hmacSigned(new TextEncoder().encode(pem.trim()), "mallory")],
      ["HS256 with the DER bytes as secret", await hmacSigned(derOf(pem), "mallory")],
      ["HS256 with the JWK JSON as secret", await hmacSigned(new TextEncoder().encode(jwk), "mallory")],
      ["ES256 with its own key in the header (jwk)", await selfSigned()],
      ["ES256 by a stranger's key", await fx.token("mallory", { key: fx.strangerKey })],
    );
  });
  after(async () => {
    await fx?.close();
  });

  async function selfSigned(): Promise<string> {
    const attacker = await generateKeyPair("ES256", { extractable: true });
    return new SignJWT({})
      .setProtectedHeader({ alg: "ES256", jwk: await exportJWK(attacker.publicKey) })
      .setSubject("mallory")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(attacker.privateKey);
  }

  test("REST and Connect answer 401 to every forged token; a real one passes", TIMEOUT, async () => {
    assert.ok(forged.length >= 9);
    const user = await registerUser(fx.url);
    for (const [how, token] of forged) {
      const rest = await fetch(`${fx.url}/v1/users/${user}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(rest.status, 401, `REST, ${how}`);
      assert.equal(((await rest.json()) as { code: string }).code, "unauthenticated", how);
      const connect = await fetch(`${fx.url}/shop.v1.UserService/GetUser`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ id: user }),
      });
      assert.equal(connect.status, 401, `Connect, ${how}`);
      await connect.body?.cancel();
    }
    const real = await fetch(`${fx.url}/v1/users/${user}`, {
      headers: { authorization: `Bearer ${await fx.token(user)}` },
    });
    assert.equal(real.status, 200, "the gateway's own key still verifies");
    await real.body?.cancel();
  });

  test("gRPC answers unauthenticated to every forged token", TIMEOUT, async () => {
    const users = createClient(UserService, createGrpcTransport({ baseUrl: fx.url }));
    for (const [how, token] of forged) {
      const err = await users.getUser({ id: "u-1" }, { headers: { authorization: `Bearer ${token}` } }).then(
        () => assert.fail(`accepted: ${how}`),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.Unauthenticated, how);
    }
  });
});

async function registerUser(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/users`, {
    method: "POST",
    body: JSON.stringify({
      idempotencyKey: `k-${crypto.randomUUID()}`,
      email: `m-${crypto.randomUUID()}@example.com`,
      displayName: "M",
    }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { user: { id: string } }).user.id;
}

describe("JWT configuration that would allow algorithm confusion", () => {
  test("symmetric algorithms and none cannot be configured", async () => {
    const keys = await generateKeyPair("RS256", { extractable: true });
    const publicKey = await exportSPKI(keys.publicKey);
    for (const algorithms of [["HS256"], ["none"], ["RS256", "HS512"], []]) {
      await assert.rejects(
        createAuthenticator({ publicKey, algorithms }),
        /cannot be accepted: the gateway verifies tokens with public keys/,
        JSON.stringify(algorithms),
      );
    }
  });

  test("a symmetric or private JWK is not a public key", async () => {
    const secret = JSON.stringify({ kty: "oct", k: base64url("s3cret-s3cret-s3cret"), alg: "HS256" });
    await assert.rejects(createAuthenticator({ publicKey: secret }), /JWK of type oct/);
    const keys = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = JSON.stringify({ ...(await exportJWK(keys.privateKey)), alg: "ES256" });
    await assert.rejects(createAuthenticator({ publicKey: privateJwk }), /private JWK/);
  });

  test("a key verifies only the algorithm it was imported for", async () => {
    const keys = await generateKeyPair("RS256", { extractable: true });
    // RSA keys fit RS256 and PS256: the PEM key is RS256's, the first in the list.
    const authenticate = await createAuthenticator({
      publicKey: await exportSPKI(keys.publicKey),
      algorithms: ["RS256", "PS256"],
    });
    // The same RSA private key, imported once per algorithm (Web Crypto binds a key to one).
    const pkcs8 = await exportPKCS8(keys.privateKey);
    const sign = async (alg: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg })
        .setSubject("s")
        .setExpirationTime("1m")
        .sign(await importPKCS8(pkcs8, alg));
    assert.equal((await authenticate(`Bearer ${await sign("RS256")}`)).subject, "s");
    const pss = await authenticate(`Bearer ${await sign("PS256")}`).then(
      () => assert.fail("a PS256 token was accepted by the RS256 key"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(pss.code, Code.Unauthenticated);
    assert.match(pss.rawMessage, /algorithm is not accepted/);
  });

  test("a JWK set's symmetric key is never used, even for an HS256 token it signed", async () => {
    const secret = new TextEncoder().encode("a-shared-secret-of-32-bytes-long");
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const authenticate = await createAuthenticator({
      jwks: {
        keys: [
          { kty: "oct", k: base64url(secret), kid: "k1" },
          { ...(await exportJWK(rsa.publicKey)), kid: "k2", alg: "RS256" },
        ],
      },
    });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setSubject("mallory")
      .setExpirationTime("1m")
      .sign(secret);
    const err = await authenticate(`Bearer ${token}`).then(
      () => assert.fail("an HS256 token was accepted"),
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(err.code, Code.Unauthenticated);
  });
});
