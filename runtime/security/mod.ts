/**
 * `troupe/security`: least-privilege NATS credentials derived from what processes declare
 * (docs/adr/0030-credentials-from-declarations.md). The permissions of a declaration, and the
 * operator, account and user JWTs of NATS decentralized authentication. `troupe auth generate`
 * writes them as files; these are the same functions for tools and tests. And a local
 * certificate authority and the certificates it signs, as PEM strings and files, for TLS on NATS
 * and the gateway (docs/adr/0028-tls-on-every-hop.md, docs/guide/tls.md).
 */

export type { ProcessDeclaration } from "../protocol/declaration.ts";
export {
  type CertificateAuthority,
  type CertificateFacts,
  type CertificateOptions,
  type CertificateUsage,
  createLocalCa,
  defaultCertificateOptions,
  defaultLocalCaOptions,
  describeCertificate,
  type IssuedCertificate,
  issueCertificate,
  LOCAL_DNS_NAMES,
  LOCAL_IP_ADDRESSES,
  type LocalCaOptions,
} from "./certificates.ts";
export {
  type AuthKeys,
  createAuthKeys,
  defaultServerAuthOptions,
  issueUser,
  publicKeyOf,
  type ServerAuth,
  type ServerAuthOptions,
  seedOfCreds,
  serverAuth,
  type UserCredentials,
  type UserOptions,
  userKeyOfCreds,
} from "./credentials.ts";
export {
  createIdentitySigner,
  createIdentityVerifier,
  IDENTITY_SIGNATURE_TTL_MS,
  type SignedIdentity,
} from "./identity-signature.ts";
export {
  type CertificateFiles,
  defaultLocalCertificatesOptions,
  ensureLocalCertificates,
  type LocalCertificates,
  type LocalCertificatesOptions,
  readCertificateFiles,
  writeCertificateFiles,
} from "./local-certificates.ts";
export {
  DENIED_TO_EVERY_PROCESS,
  type NatsPermissions,
  permissionsOf,
} from "./permissions.ts";
