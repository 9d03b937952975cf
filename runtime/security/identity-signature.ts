/**
 * The gateway's signature on the identity it forwards (docs/adr/0030-credentials-from-declarations.md).
 * The gateway verifies a caller's JWT and forwards its subject and claims as headers; an actor
 * that trusts those headers must know that the gateway wrote them, and not another process
 * allowed to call it. The gateway signs, with its nkey (the seed of its NATS user), the identity,
 * the method it is for and an expiry; an actor verifies with the gateway's public key
 * (TROUPE_GATEWAY_KEY). A signature cannot be moved to another method, outlives the call by a
 * minute at most, and cannot be made without the gateway's seed.
 */
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire";
import { fromPublic, fromSeed } from "@nats-io/nkeys";

/** What is signed: the identity's two headers, exactly as sent, and the method they are for. */
export interface SignedIdentity {
  /** `shop.v1.OrderService/GetOrder` */
  readonly method: string;
  readonly subject: string;
  /** The claims header's value, as sent. */
  readonly claims: string;
}

/** How long a signed identity may be used after it was made. */
export const IDENTITY_SIGNATURE_TTL_MS = 60_000;

const encoder = new TextEncoder();

function signedBytes(identity: SignedIdentity, expiresAtMs: number): Uint8Array {
  return encoder.encode(
    ["troupe-identity-v1", String(expiresAtMs), identity.method, identity.subject, identity.claims].join(
      "\n",
    ),
  );
}

/** Signs with an nkey seed (`SU…`); returns the signature header's value. */
export function createIdentitySigner(seed: string): (identity: SignedIdentity, nowMs?: number) => string {
  const pair = fromSeed(encoder.encode(seed));
  return (identity, nowMs = Date.now()) => {
    const expiresAtMs = nowMs + IDENTITY_SIGNATURE_TTL_MS;
    return `${expiresAtMs}.${base64Encode(pair.sign(signedBytes(identity, expiresAtMs)), "url")}`;
  };
}

/**
 * Checks a signature header against the gateway's public keys (several while one is rotated);
 * returns why it does not hold, or undefined when it does.
 */
export function createIdentityVerifier(
  publicKeys: readonly string[],
): (identity: SignedIdentity, signature: string | null, nowMs?: number) => string | undefined {
  const keys = publicKeys.map((key) => fromPublic(key));
  return (identity, signature, nowMs = Date.now()) => {
    if (signature === null || signature === "") return "it carries no gateway signature";
    const dot = signature.indexOf(".");
    const expiresAtMs = Number(signature.slice(0, dot));
    if (dot <= 0 || !Number.isSafeInteger(expiresAtMs)) return "its signature is malformed";
    if (expiresAtMs < nowMs) return "its signature has expired";
    if (expiresAtMs > nowMs + 2 * IDENTITY_SIGNATURE_TTL_MS) return "its signature expires too late";
    let sig: Uint8Array;
    try {
      sig = base64Decode(signature.slice(dot + 1));
    } catch {
      return "its signature is malformed";
    }
    const data = signedBytes(identity, expiresAtMs);
    return keys.some((key) => verifies(key, data, sig)) ? undefined : "its signature is not the gateway's";
  };
}

function verifies(key: ReturnType<typeof fromPublic>, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return key.verify(data, sig);
  } catch {
    return false;
  }
}
