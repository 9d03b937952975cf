/**
 * The gateway's JWT check against a JWK set served over HTTP (as an identity provider serves
 * it), with issuer, audience and clock tolerance; and the per-client token bucket on a clock the
 * test moves.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { parseRateLimit } from "troupe/gateway";
import { type Authenticator, createAuthenticator } from "../../runtime/gateway/authenticate.ts";
import { createRateLimiter } from "../../runtime/gateway/rate-limiter.ts";

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConnectError);
    return err;
  }
  assert.fail("expected a refusal");
}

describe("JWT verification with a PEM public key", () => {
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    test(`a ${alg} key is imported with the default algorithm list`, async () => {
      const keys = await generateKeyPair(alg, { extractable: true });
      const authenticate = await createAuthenticator({ publicKey: await exportSPKI(keys.publicKey) });
      const token = await new SignJWT({}).setProtectedHeader({ alg }).setSubject("pem").sign(keys.privateKey);
      assert.equal((await authenticate(`Bearer ${token}`)).subject, "pem");
      const other = await generateKeyPair(alg);
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg })
        .setSubject("pem")
        .sign(other.privateKey);
      assert.equal((await refusal(authenticate(`Bearer ${forged}`))).code, Code.Unauthenticated);
    });
  }

  test("a key of no accepted algorithm is refused at start, naming the list", async () => {
    const keys = await generateKeyPair("ES256", { extractable: true });
    await assert.rejects(
      createAuthenticator({ publicKey: await exportSPKI(keys.publicKey), algorithms: ["RS256"] }),
      /imports for none of the accepted algorithms \(RS256\)/,
    );
  });
});

describe("JWT verification with a remote JWK set", () => {
  const server = createServer();
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let authenticate: Authenticator;
  const sign = (claims: { iss?: string; aud?: string; exp?: number; sub?: string }) => {
    const jwt = new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuedAt();
    if (claims.sub !== undefined) jwt.setSubject(claims.sub);
    jwt.setIssuer(claims.iss ?? "https://id.example");
    jwt.setAudience(claims.aud ?? "shop");
    jwt.setExpirationTime(claims.exp ?? "1m");
    return jwt.sign(keys.privateKey);
  };

  before(async () => {
    keys = await generateKeyPair("RS256", { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    server.on("request", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    authenticate = await createAuthenticator({
      jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      issuer: "https://id.example",
      audience: "shop",
      clockToleranceSec: 5,
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("a valid token yields its subject and claims", async () => {
    const identity = await authenticate(`Bearer ${await sign({ sub: "dave" })}`);
    assert.equal(identity.subject, "dave");
    assert.equal(identity.claims.iss, "https://id.example");
  });

  test("refusals say why, as unauthenticated", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string | null, RegExp][] = [
      [null, /requires authentication/],
      ["Basic abc", /Bearer <JWT>/],
      [`Bearer ${await sign({ sub: "d", iss: "https://other.example" })}`, /iss claim/],
      [`Bearer ${await sign({ sub: "d", aud: "billing" })}`, /aud claim/],
      [`Bearer ${await sign({ sub: "d", exp: now - 60 })}`, /expired/],
      [`Bearer ${await sign({})}`, /no subject/],
    ];
    for (const [header, message] of cases) {
      const err = await refusal(authenticate(header));
      assert.equal(err.code, Code.Unauthenticated, String(header));
      assert.match(err.rawMessage, message);
    }
    // Within the clock tolerance an expired token still passes.
    assert.equal((await authenticate(`Bearer ${await sign({ sub: "d", exp: now - 2 })}`)).subject, "d");
  });
});

describe("rate limiter", () => {
  test("a burst, then one request per refill interval, per client", () => {
    let now = 0;
    const take = createRateLimiter({ perSecond: 2, burst: 3, now: () => now });
    assert.deepEqual([take("a"), take("a"), take("a")], [undefined, undefined, undefined]);
    assert.equal(take("a"), 500, "the next token is 500 ms away");
    assert.equal(take("b"), undefined, "another client has its own bucket");
    now += 500;
    assert.equal(take("a"), undefined);
    assert.ok((take("a") ?? 0) > 0);
  });

  test("the number of clients remembered is bounded", () => {
    const now = 0;
    const take = createRateLimiter({ perSecond: 1, burst: 1, maxClients: 2, now: () => now });
    take("a");
    take("b");
    take("c"); // forgets a, the least recently seen
    assert.equal(take("a"), undefined, "a forgotten client starts with a full bucket");
    assert.ok((take("c") ?? 0) > 0);
  });

  test("parseRateLimit", () => {
    assert.deepEqual(parseRateLimit("100/s"), { perSecond: 100, burst: 100 });
    assert.deepEqual(parseRateLimit("60/m:10"), { perSecond: 1, burst: 10 });
    assert.throws(() => parseRateLimit("fast"), /<count>\/<s\|m\|h>/);
  });
});
