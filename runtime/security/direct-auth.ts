/**
 * Who may call by address (docs/adr/0031-direct-calls-by-address.md): the same NATS user, with
 * the same permissions, as on the bus. A call by address skips nats-server, which is where those
 * permissions are enforced, so the listener enforces them itself:
 *
 * 1. on a new connection the listener sends a random nonce;
 * 2. the caller answers with its user JWT (from its creds) and its nkey's signature of the nonce;
 * 3. the listener checks that the JWT is signed by the same account signing key as its own user's,
 *    has not expired, and names the key that signed the nonce; then each request's subject must be
 *    one the JWT's `pub` permissions allow, as nats-server would require of a publish.
 *
 * A listener whose process has no creds (a bus without authentication) asks for nothing, as
 * nats-server would not.
 */
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire";
import { decode } from "@nats-io/jwt";
import type { NatsConnection } from "@nats-io/nats-core";
import { fromPublic, fromSeed } from "@nats-io/nkeys";

/** A creds file's user JWT and nkey seed. */
export interface CallerCredentials {
  readonly jwt: string;
  readonly seed: string;
}

const encoder = new TextEncoder();

/** The JWT and seed of a creds file (`troupe auth generate`'s `<name>.creds`), or undefined. */
export function parseCallerCredentials(creds: string): CallerCredentials | undefined {
  const jwt = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.-]+)\s*/.exec(creds)?.[1];
  const seed = /-----BEGIN USER NKEY SEED-----\s*(SU[A-Z2-7]+)\s*/.exec(creds)?.[1];
  return jwt === undefined || seed === undefined ? undefined : { jwt, seed };
}

const remembered = new WeakMap<NatsConnection, CallerCredentials>();

/** Records the credentials a connection was opened with, for its calls and listener by address. */
export function rememberCredentials(nc: NatsConnection, creds: string): void {
  const parsed = parseCallerCredentials(creds);
  if (parsed !== undefined) remembered.set(nc, parsed);
}

/** The credentials `rememberCredentials` recorded for `nc`, if any. */
export function credentialsOf(nc: NatsConnection): CallerCredentials | undefined {
  return remembered.get(nc);
}

const trusted = new WeakMap<NatsConnection, string>();

/** Records the CA (PEM) a connection verifies nats-server with: calls by address to `tls://` trust it too. */
export function rememberTrustedCa(nc: NatsConnection, caPem: string): void {
  trusted.set(nc, caPem);
}

export function trustedCaOf(nc: NatsConnection): string | undefined {
  return trusted.get(nc);
}

/** What a caller sends in answer to the nonce. */
export interface DirectProof {
  readonly jwt: string;
  /** base64url of the nkey's signature of the nonce. */
  readonly sig: string;
}

export function proveIdentity(credentials: CallerCredentials, nonce: Uint8Array): DirectProof {
  const pair = fromSeed(encoder.encode(credentials.seed));
  return { jwt: credentials.jwt, sig: base64Encode(pair.sign(nonce), "url") };
}

interface UserClaims {
  readonly sub?: string;
  readonly iss?: string;
  readonly exp?: number;
  readonly name?: string;
  readonly nats?: {
    readonly issuer_account?: string;
    readonly pub?: { readonly allow?: readonly string[]; readonly deny?: readonly string[] };
  };
}

/** What a proven caller may do: publish (call) on the subjects its JWT allows. */
export interface DirectCaller {
  /** The user's name in its JWT (the process name for `troupe auth generate`'s users). */
  readonly name: string;
  mayCall(subject: string): boolean;
}

/**
 * Checks proofs against the listener's own credentials: the caller's JWT must be issued by the
 * same key as the listener's (the account's signing key), for the same account. Returns the
 * caller, or why it is refused.
 */
export function createDirectAuthority(
  own: CallerCredentials,
): (proof: DirectProof, nonce: Uint8Array, nowMs?: number) => DirectCaller | string {
  const mine = decode<unknown>(own.jwt) as UserClaims;
  return (proof, nonce, nowMs = Date.now()) => {
    let claims: UserClaims;
    try {
      claims = decode<unknown>(proof.jwt) as UserClaims;
    } catch (err) {
      return `its JWT does not verify (${(err as Error).message})`;
    }
    if (claims.iss !== mine.iss || claims.nats?.issuer_account !== mine.nats?.issuer_account) {
      return "its JWT is not issued by this account's signing key";
    }
    if (claims.exp !== undefined && claims.exp * 1000 <= nowMs) return "its JWT has expired";
    if (claims.sub === undefined) return "its JWT names no user";
    let signed: boolean;
    try {
      signed = fromPublic(claims.sub).verify(nonce, base64Decode(proof.sig));
    } catch {
      signed = false;
    }
    if (!signed) return "the nonce is not signed by the JWT's user";
    const allow = claims.nats?.pub?.allow ?? [];
    const deny = claims.nats?.pub?.deny ?? [];
    return {
      name: claims.name ?? claims.sub,
      mayCall: (subject) =>
        (allow.length === 0 || allow.some((p) => subjectMatches(p, subject))) &&
        !deny.some((p) => subjectMatches(p, subject)),
    };
  };
}

/** NATS subject matching: `*` is one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let i = 0; i < want.length; i++) {
    const token = want[i];
    if (token === ">") return i === want.length - 1 && have.length > i;
    if (i >= have.length) return false;
    if (token !== "*" && token !== have[i]) return false;
  }
  return want.length === have.length;
}
