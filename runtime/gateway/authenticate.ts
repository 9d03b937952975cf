/**
 * JWT authentication at the gateway, with jose (https://github.com/panva/jose): the bearer token
 * of `Authorization` is verified against a public key (PEM SPKI or JWK) or a JWK set (a URL,
 * fetched and cached by jose, or given inline), with the configured issuer, audience and clock
 * tolerance. What a verified token yields, the identity, travels to the actor as headers; the
 * token itself does not (docs/adr/0008-gateway.md).
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
  /** The algorithms accepted; a PEM key is taken as the first of them its key type fits. */
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

export async function createAuthenticator(partial: Partial<JwtOptions>): Promise<Authenticator> {
  const options: JwtOptions = { ...defaultJwtOptions, ...partial };
  const key = await keySource(options);
  const verifyOptions = {
    algorithms: [...options.algorithms],
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

async function keySource(options: JwtOptions): Promise<JWTVerifyGetKey | CryptoKey | Uint8Array> {
  if (options.jwksUrl !== undefined) return createRemoteJWKSet(new URL(options.jwksUrl));
  if (options.jwks !== undefined) return createLocalJWKSet(options.jwks);
  const text = options.publicKey?.trim();
  if (text === undefined) throw new Error("JWT authentication needs a jwksUrl, jwks or publicKey");
  if (text.startsWith("{")) {
    const jwk = JSON.parse(text) as JWK;
    const alg = jwk.alg ?? options.algorithms[0];
    if (alg === undefined) throw new Error("a JWK public key needs an alg, or algorithms to be set");
    return importJWK(jwk, alg) as Promise<CryptoKey | Uint8Array>;
  }
  // A PEM key does not name its algorithm: the first accepted one the key imports for is its own
  // (an EC P-256 key refuses RS256 and imports for ES256), so the default list fits RSA, EC and
  // Ed25519 keys alike.
  for (const alg of options.algorithms) {
    try {
      return await importSPKI(text, alg);
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
