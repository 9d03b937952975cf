/**
 * JWT authentication at the gateway, with jose (https://github.com/panva/jose): the bearer token
 * of `Authorization` is verified against a public key (PEM SPKI or JWK) or a JWK set (a URL,
 * fetched and cached by jose, or given inline), with the configured issuer, audience and clock
 * tolerance. What a verified token yields, the identity, travels to the actor as headers; the
 * token itself does not (docs/adr/0008-gateway.md).
 *
 * Algorithm confusion is refused whatever the configuration (docs/adr/0029-a-hardened-edge.md):
 * only asymmetric algorithms may be configured (never `none`, never HS*, whose "key" would be
 * the public key everyone has), and a single key verifies only tokens of the one algorithm it
 * was imported for, so a token cannot choose how it is checked.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  importJWK,
  importSPKI,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";

export interface JwtOptions {
  /** A JWK set URL (`https://issuer/.well-known/jwks.json`), fetched and cached by jose. */
  readonly jwksUrl: string | undefined;
  /** An inline JWK set. */
  readonly jwks: JSONWebKeySet | undefined;
  /** One public key: PEM (`-----BEGIN PUBLIC KEY-----`, SPKI) or a JWK as JSON. */
  readonly publicKey: string | undefined;
  /**
   * The algorithms accepted, asymmetric only (RS*, PS*, ES*, EdDSA, Ed25519); a PEM key is taken
   * as the first of them its key type fits, and then verifies that algorithm only.
   */
  readonly algorithms: readonly string[];
  /** Required `iss`, when set. */
  readonly issuer: string | undefined;
  /** Required `aud` (one of), when set. */
  readonly audience: string | readonly string[] | undefined;
  /** Leeway for `exp`/`nbf`/`iat`, in seconds. */
  readonly clockToleranceSec: number;
}

export const defaultJwtOptions: JwtOptions = {
  jwksUrl: undefined,
  jwks: undefined,
  publicKey: undefined,
  algorithms: ["RS256", "ES256", "EdDSA"],
  issuer: undefined,
  audience: undefined,
  clockToleranceSec: 30,
};

/** Who the caller is, once their token is verified. */
export interface Identity {
  readonly subject: string;
  readonly claims: JWTPayload;
}

/** Verifies an `Authorization` header value; rejects with `unauthenticated` and a clear message. */
export type Authenticator = (authorization: string | null) => Promise<Identity>;

/** True when the options name a key source (otherwise no method may require authentication). */
export function hasJwtKey(options: Partial<JwtOptions>): boolean {
  return options.jwksUrl !== undefined || options.jwks !== undefined || options.publicKey !== undefined;
}

/** JWS algorithms with a public verification key (RFC 7518 §3.1, RFC 8037, RFC 9864). */
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
]);

export async function createAuthenticator(partial: Partial<JwtOptions>): Promise<Authenticator> {
  const options: JwtOptions = { ...defaultJwtOptions, ...partial };
  const refused = options.algorithms.filter((alg) => !ASYMMETRIC_ALGORITHMS.has(alg));
  if (refused.length > 0 || options.algorithms.length === 0) {
    throw new Error(
      `JWT algorithms ${refused.length > 0 ? refused.join(", ") : "(none)"} cannot be accepted: the gateway verifies tokens with public keys, so only ${[...ASYMMETRIC_ALGORITHMS].join(", ")}`,
    );
  }
  const { key, algorithms } = await keySource(options);
  const verifyOptions = {
    algorithms,
    clockTolerance: options.clockToleranceSec,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined
      ? {}
      : { audience: typeof options.audience === "string" ? options.audience : [...options.audience] }),
  };
  return async (authorization) => {
    const token = bearerToken(authorization);
    try {
      const { payload } =
        typeof key === "function"
          ? await jwtVerify(token, key, verifyOptions)
          : await jwtVerify(token, key, verifyOptions);
      if (typeof payload.sub !== "string" || payload.sub === "") {
        throw new ConnectError("the token has no subject (sub claim)", Code.Unauthenticated);
      }
      return { subject: payload.sub, claims: payload };
    } catch (err) {
      throw refusal(err);
    }
  };
}

/**
 * The key, and the algorithms it verifies: a key set's keys each carry their type (jose matches
 * a token's `alg` to the type of the key it picks), a single key exactly one algorithm.
 */
async function keySource(
  options: JwtOptions,
): Promise<{ key: JWTVerifyGetKey | CryptoKey; algorithms: string[] }> {
  const algorithms = [...options.algorithms];
  if (options.jwksUrl !== undefined) return { key: createRemoteJWKSet(new URL(options.jwksUrl)), algorithms };
  if (options.jwks !== undefined) return { key: createLocalJWKSet(options.jwks), algorithms };
  const text = options.publicKey?.trim();
  if (text === undefined) throw new Error("JWT authentication needs a jwksUrl, jwks or publicKey");
  if (text.startsWith("{")) {
    const jwk = JSON.parse(text) as JWK;
    if (jwk.kty !== "RSA" && jwk.kty !== "EC" && jwk.kty !== "OKP") {
      throw new Error(
        `the JWT public key is a JWK of type ${String(jwk.kty)}: only RSA, EC and OKP keys are public keys`,
      );
    }
    if (jwk.d !== undefined)
      throw new Error("the JWT public key is a private JWK: give its public part only");
    const alg = jwk.alg ?? options.algorithms[0];
    if (alg === undefined || !options.algorithms.includes(alg)) {
      throw new Error(
        `the JWK's algorithm ${String(alg)} is not one of the accepted ${options.algorithms.join(", ")}`,
      );
    }
    return { key: (await importJWK(jwk, alg)) as CryptoKey, algorithms: [alg] };
  }
  // A PEM key does not name its algorithm: the first accepted one the key imports for is its own
  // (an EC P-256 key refuses RS256 and imports for ES256), so the default list fits RSA, EC and
  // Ed25519 keys alike.
  for (const alg of options.algorithms) {
    try {
      return { key: await importSPKI(text, alg), algorithms: [alg] };
    } catch {
      // not this algorithm's key type: try the next
    }
  }
  throw new Error(
    `the PEM public key imports for none of the accepted algorithms (${options.algorithms.join(", ")})`,
  );
}

function bearerToken(authorization: string | null): string {
  if (authorization === null || authorization === "") {
    throw new ConnectError(
      "this method requires authentication: send Authorization: Bearer <JWT>",
      Code.Unauthenticated,
    );
  }
  const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization);
  if (match?.[1] === undefined) {
    throw new ConnectError("the Authorization header must be: Bearer <JWT>", Code.Unauthenticated);
  }
  return match[1];
}

/** jose's errors, said plainly; never the token or the key. */
function refusal(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof errors.JWTExpired)
    return new ConnectError("the token has expired", Code.Unauthenticated);
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new ConnectError(`the token's ${err.claim} claim is not accepted`, Code.Unauthenticated);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    return new ConnectError("the token's signature is not valid", Code.Unauthenticated);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return new ConnectError("the token's algorithm is not accepted", Code.Unauthenticated);
  }
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return new ConnectError("the gateway cannot fetch its signing keys", Code.Unavailable);
  }
  return new ConnectError("the token is not a valid JWT", Code.Unauthenticated);
}
