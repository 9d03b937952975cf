/**
 * Issue 13: "identity headers forged by an actor are not honoured where the gateway's identity
 * is expected". The gateway signs the identity it forwards with its NATS user's nkey; an actor
 * given the gateway's public key (TROUPE_GATEWAY_KEY, `identityKeys`) refuses, `unauthenticated`,
 * any identity without that signature for that method, and takes a call without identity as an
 * internal one. On a real nats-server with authentication: the forger is an actor allowed to call
 * the service, so only the signature stands between it and another user's identity.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import {
  createNatsTransport,
  declarationOf,
  defineActor,
  implement,
  type RunningActor,
  serveActor,
  silentLogger,
} from "troupe";
import { gatewayDeclaration } from "troupe/gateway";
import { callerIdentity } from "troupe/host";
import { Header } from "troupe/protocol";
import {
  createAuthKeys,
  createIdentitySigner,
  IDENTITY_SIGNATURE_TTL_MS,
  issueUser,
  type ProcessDeclaration,
  seedOfCreds,
  userKeyOfCreds,
} from "troupe/security";
import { type SecuredNatsServer, startSecuredNatsServer } from "troupe/testing";
import { UserSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { connectErrorOf } from "../support/connect-error-of.ts";

const TIMEOUT = { timeout: 30_000 };
const METHOD = "shop.v1.UserService/GetUser";

/** Serves UserService.GetUser, answering with the caller's identity ("internal" without one). */
const whoami = defineActor({
  name: "whoami",
  version: "1.0.0",
  description: "answers with the identity a call carries",
  serves: [UserService],
  services: () => [
    implement(UserService, {
      getUser: (_request, context) => ({
        user: create(UserSchema, { id: callerIdentity(context)?.subject ?? "internal" }),
      }),
    }),
  ],
});

/** An actor allowed to call UserService: what it sends as identity is not the gateway's word. */
const forger: ProcessDeclaration = {
  name: "forger",
  version: "1.0.0",
  serves: [],
  calls: [UserService.typeName],
  publishes: { events: [], jobs: [] },
  consumes: { events: [], jobs: [] },
  state: [],
};

describe("identities signed by the gateway", () => {
  let secured: SecuredNatsServer;
  let running: RunningActor;
  let gatewaySeed: string;
  let users: ReturnType<typeof createClient<typeof UserService>>;

  before(async () => {
    secured = await startSecuredNatsServer();
    const gatewayCreds = await secured.credsFor(gatewayDeclaration([UserService], "0.0.0"));
    gatewaySeed = seedOfCreds(gatewayCreds) ?? "";
    const gatewayKey = userKeyOfCreds(gatewayCreds) ?? "";
    assert.match(gatewayKey, /^U/);
    running = await serveActor(await secured.connectAs(declarationOf(whoami)), whoami, {
      logger: silentLogger,
      identityKeys: [gatewayKey],
    });
    users = createClient(UserService, createNatsTransport({ nc: await secured.connectAs(forger) }));
  });

  after(async () => {
    await running?.drain(1_000);
    await secured?.dispose();
  });

  const as = (headers: Record<string, string>) => users.getUser({ id: "x" }, { headers });
  const identity = (subject: string) => ({
    [Header.authSubject]: subject,
    [Header.authClaims]: JSON.stringify({ sub: subject }),
  });
  const signed = (subject: string, seed: string, method = METHOD, nowMs = Date.now()) => ({
    ...identity(subject),
    [Header.authSignature]: createIdentitySigner(seed)(
      { method, subject, claims: JSON.stringify({ sub: subject }) },
      nowMs,
    ),
  });

  test("the gateway's signature makes the identity the handler sees", TIMEOUT, async () => {
    assert.equal((await as(signed("ada", gatewaySeed))).user?.id, "ada");
  });

  test("a call without identity is an internal one", TIMEOUT, async () => {
    assert.equal((await as({})).user?.id, "internal");
  });

  test("identity headers without the gateway's signature are refused", TIMEOUT, async () => {
    const forgedKey = seedOfCreds((await issueUser(createAuthKeys(), "forger")).creds) ?? "";
    const cases: [string, Record<string, string>, RegExp][] = [
      ["unsigned", identity("victim"), /carries no gateway signature/],
      ["signed by another key", signed("victim", forgedKey), /not the gateway's/],
      [
        "a signature for another method",
        signed("victim", gatewaySeed, "shop.v1.OrderService/GetOrder"),
        /not the gateway's/,
      ],
      [
        "an expired signature",
        signed("victim", gatewaySeed, METHOD, Date.now() - 2 * IDENTITY_SIGNATURE_TTL_MS),
        /expired/,
      ],
      [
        "the gateway's signature of someone else",
        { ...signed("ada", gatewaySeed), [Header.authSubject]: "victim" },
        /not the gateway's/,
      ],
      ["a malformed signature", { ...identity("victim"), [Header.authSignature]: "soon.!!" }, /malformed/],
    ];
    for (const [what, headers, why] of cases) {
      const refused = await connectErrorOf(as(headers));
      assert.equal(refused.code, Code.Unauthenticated, `${what}: ${refused.message}`);
      assert.match(refused.message, why, what);
    }
    // And the actor still serves.
    assert.equal((await as(signed("ada", gatewaySeed))).user?.id, "ada");
  });
});
