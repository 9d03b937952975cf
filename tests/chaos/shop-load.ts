/**
 * The chaos suite's clients: virtual users of the shop that talk to the gateway only (REST routes
 * of the contracts' google.api.http annotations). Each registers an account (POST /v1/users),
 * signs in with a token for it (the development key of troupe dev, subject = the user's id, as an
 * identity provider would issue), then places orders (POST /v1/orders) one after another for 1 or
 * 2 catalogue products in small quantities, some with a declining card, and registers a new
 * account every `ordersPerAccount` orders. Every operation is retried on any error or timeout,
 * with the same idempotency key, until it is answered or the settle deadline passes (`giveUpAt`); a refusal
 * that no retry can change (invalid_argument, unauthenticated, permission_denied, not_found) is
 * an answer too. Every operation is recorded with its attempts, outcome and latencies.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { importPKCS8, SignJWT } from "jose";
import { DEV_JWT } from "../../runtime/cli/dev/dev-jwt.ts";
import { sleep } from "./faults.ts";

export type OperationKind = "RegisterUser" | "PlaceOrder";

export interface Operation {
  readonly kind: OperationKind;
  readonly idempotencyKey: string;
  /** Epoch ms of the first attempt. */
  readonly startedAt: number;
  /** Epoch ms of the answer (or of giving up). */
  endedAt: number;
  attempts: number;
  /** "answered": 200; "refused": an error no retry changes; "no answer": gave up at the deadline. */
  outcome: "answered" | "refused" | "no answer";
  /** The order status or "user", or the refusal's code. */
  result: string;
  /** How long the answered attempt took. */
  answerMs: number;
  /** Why attempts failed, by reason (HTTP status and Connect code, or the network error). */
  readonly failures: Record<string, number>;
  /** PlaceOrder: what was ordered, for the report. */
  readonly items?: readonly { productId: string; quantity: number }[];
  readonly declining?: boolean;
}

export interface LoadOptions {
  readonly gatewayUrl: string;
  readonly dataDir: string;
  /** troupe.json `gateway.jwtAudience` */
  readonly audience: string;
  readonly users: number;
  readonly ordersPerAccount: number;
  /** Product ids to order from; `scarce` among them has little stock. */
  readonly productIds: readonly string[];
  readonly declineRate: number;
  readonly attemptTimeoutMs: number;
  /** False once no new operation may start. */
  readonly loading: () => boolean;
  /** An operation still unanswered is given up after this (epoch ms; it moves once the load is over). */
  readonly giveUpAt: () => number;
  /** A deterministic stream of numbers in [0, 1), so that a run can be repeated. */
  readonly random: () => number;
}

/** Codes of refusals that a retry with the same request cannot change. */
const FINAL_CODES = new Set(["invalid_argument", "unauthenticated", "permission_denied", "not_found"]);

export async function runLoad(options: LoadOptions, operations: Operation[]): Promise<void> {
  const pem = readFileSync(join(options.dataDir, "jwt", "private-key.pem"), "utf8");
  const key = await importPKCS8(pem, DEV_JWT.algorithm);
  const tokenFor = (userId: string) =>
    new SignJWT({ name: "Chaos client" })
      .setProtectedHeader({ alg: DEV_JWT.algorithm, typ: "JWT" })
      .setSubject(userId)
      .setIssuer(DEV_JWT.issuer)
      .setAudience(options.audience)
      .setIssuedAt()
      .setExpirationTime("3h")
      .sign(key);

  const call = async (
    kind: OperationKind,
    path: string,
    body: Record<string, unknown> & { idempotencyKey: string },
    token: string | undefined,
    extra: Pick<Operation, "items" | "declining"> = {},
  ): Promise<{ op: Operation; answer: unknown }> => {
    const op: Operation = {
      kind,
      idempotencyKey: body.idempotencyKey,
      startedAt: Date.now(),
      endedAt: 0,
      attempts: 0,
      outcome: "no answer",
      result: "",
      answerMs: 0,
      failures: {},
      ...extra,
    };
    operations.push(op);
    for (let backoffMs = 100; ; backoffMs = Math.min(backoffMs * 2, 2_000)) {
      op.attempts++;
      const attemptAt = Date.now();
      let reason: string;
      try {
        const res = await fetch(`${options.gatewayUrl}${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(options.attemptTimeoutMs),
        });
        const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        if (res.status === 200) {
          op.outcome = "answered";
          op.endedAt = Date.now();
          op.answerMs = op.endedAt - attemptAt;
          return { op, answer: json };
        }
        const code = typeof json.code === "string" ? json.code : "";
        if (FINAL_CODES.has(code)) {
          op.outcome = "refused";
          op.result = `${code}: ${String(json.message ?? "")}`.slice(0, 200);
          op.endedAt = Date.now();
          return { op, answer: undefined };
        }
        reason = `HTTP ${res.status}${code === "" ? "" : ` ${code}`}`;
      } catch (err) {
        reason = networkReason(err);
      }
      op.failures[reason] = (op.failures[reason] ?? 0) + 1;
      const waitMs = backoffMs * (0.5 + options.random());
      if (Date.now() + waitMs > options.giveUpAt()) {
        op.endedAt = Date.now();
        return { op, answer: undefined };
      }
      await sleep(waitMs);
    }
  };

  const runUser = async (vu: number) => {
    let account: { userId: string; token: string } | undefined;
    let orders = 0;
    let accounts = 0;
    while (options.loading()) {
      if (account === undefined || orders >= options.ordersPerAccount) {
        accounts++;
        const name = `vu${vu}-${accounts}`;
        const { op, answer } = await call(
          "RegisterUser",
          "/v1/users",
          {
            idempotencyKey: crypto.randomUUID(),
            email: `${name}-${crypto.randomUUID().slice(0, 8)}@chaos.example.com`,
            displayName: `Chaos ${name}`,
          },
          undefined,
        );
        const userId = (answer as { user?: { id?: string } } | undefined)?.user?.id;
        if (userId === undefined) {
          await sleep(500);
          continue;
        }
        op.result = "user";
        account = { userId, token: await tokenFor(userId) };
        orders = 0;
        continue;
      }
      orders++;
      const items = pickItems(options.productIds, options.random);
      const declining = options.random() < options.declineRate;
      const idempotencyKey = crypto.randomUUID();
      const { op, answer } = await call(
        "PlaceOrder",
        "/v1/orders",
        {
          idempotencyKey,
          userId: account.userId,
          items,
          shippingAddress: {
            name: "Chaos Client",
            lines: ["1 Fault Lane"],
            city: "Berlin",
            countryCode: "DE",
          },
          paymentMethodToken: declining ? "tok_decline" : "tok_visa",
        },
        account.token,
        { items, declining },
      );
      const order = (answer as { order?: { status?: string; cancelReason?: string } } | undefined)?.order;
      if (order !== undefined) {
        const status = (order.status ?? "").replace("ORDER_STATUS_", "");
        const reason = (order.cancelReason ?? "").replace("CANCEL_REASON_", "");
        op.result = reason === "" ? status : `${status} (${reason})`;
      }
    }
  };

  await Promise.all(Array.from({ length: options.users }, (_, vu) => runUser(vu + 1)));
}

/** "timeout", or what the network said (Bun's and Node's fetch say it differently). */
function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return "network error";
  if (err.name === "TimeoutError") return "timeout";
  const code = (err as { code?: unknown }).code ?? (err.cause as { code?: unknown } | undefined)?.code;
  return `network error (${typeof code === "string" ? code : err.message.slice(0, 40)})`;
}

/** 1 or 2 different products, 1 to 3 units each. */
function pickItems(productIds: readonly string[], random: () => number) {
  const count = random() < 0.6 ? 1 : 2;
  const chosen = new Set<string>();
  while (chosen.size < Math.min(count, productIds.length)) {
    chosen.add(productIds[Math.floor(random() * productIds.length)] as string);
  }
  return [...chosen].map((productId) => ({ productId, quantity: 1 + Math.floor(random() * 3) }));
}

/** A small seeded generator (mulberry32): the same seed gives the same orders. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
