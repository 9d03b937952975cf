/**
 * The development JWT setup of `troupe dev`: one ES256 key pair, made on the first run and kept
 * in `<data dir>/jwt/` (the private key readable by its owner only), whose public key the gateway
 * gets as GATEWAY_JWT_PUBLIC_KEY; and a token signed with it on every start (sub=dev-user, 12 h)
 * so that routes marked `auth_required` can be tried with curl at once. Its audience is the
 * project's (troupe.json `gateway.jwtAudience`, default the package name), which the gateway gets
 * as GATEWAY_JWT_AUDIENCE. A development key pair only: production verifies tokens of a real
 * issuer (GATEWAY_JWT_JWKS_URL).
 */
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT } from "jose";
import { joinPath, makeDir, readTextFile, writeFileAtomically } from "../../platform/files.ts";

export interface DevJwt {
  /** PEM SPKI: GATEWAY_JWT_PUBLIC_KEY */
  readonly publicKeyPem: string;
  /** The JWS algorithm of the key pair: GATEWAY_JWT_ALGORITHMS */
  readonly algorithm: string;
  readonly issuer: string;
  readonly audience: string;
  readonly subject: string;
  /** A signed token for `Authorization: Bearer …` */
  readonly token: string;
  readonly expiresAt: Date;
}

export const DEV_JWT = {
  algorithm: "ES256",
  issuer: "troupe-dev",
  subject: "dev-user",
  lifetimeMs: 12 * 60 * 60 * 1_000,
} as const;

const PRIVATE_KEY_FILE = "private-key.pem";
const PUBLIC_KEY_FILE = "public-key.pem";

/**
 * Loads the key pair from `dir` (making it on first use) and signs a fresh development token
 * for `audience`.
 */
export async function loadDevJwt(dir: string, audience: string, now: Date = new Date()): Promise<DevJwt> {
  makeDir(dir);
  const privatePath = joinPath(dir, PRIVATE_KEY_FILE);
  const publicPath = joinPath(dir, PUBLIC_KEY_FILE);
  let privatePem = readTextFile(privatePath);
  let publicPem = readTextFile(publicPath);
  if (privatePem === undefined || publicPem === undefined) {
    const pair = await generateKeyPair(DEV_JWT.algorithm, { extractable: true });
    privatePem = await exportPKCS8(pair.privateKey);
    publicPem = await exportSPKI(pair.publicKey);
    writeFileAtomically(privatePath, privatePem, 0o600);
    writeFileAtomically(publicPath, publicPem);
  }
  const key = await importPKCS8(privatePem, DEV_JWT.algorithm);
  const expiresAt = new Date(now.getTime() + DEV_JWT.lifetimeMs);
  const token = await new SignJWT({ name: "Troupe developer" })
    .setProtectedHeader({ alg: DEV_JWT.algorithm, typ: "JWT" })
    .setSubject(DEV_JWT.subject)
    .setIssuer(DEV_JWT.issuer)
    .setAudience(audience)
    .setIssuedAt(Math.floor(now.getTime() / 1_000))
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1_000))
    .sign(key);
  return {
    publicKeyPem: publicPem,
    algorithm: DEV_JWT.algorithm,
    issuer: DEV_JWT.issuer,
    audience,
    subject: DEV_JWT.subject,
    token,
    expiresAt,
  };
}
