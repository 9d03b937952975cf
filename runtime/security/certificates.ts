/**
 * A local certificate authority and the certificates it signs, for TLS on NATS and the gateway in
 * development and tests (docs/adr/0028-tls-on-every-hop.md, docs/guide/tls.md). Production uses
 * its own PKI; these functions make the files that a development setup needs, as PEM strings
 * (certificate, PKCS#8 key, the CA's certificate) and files with 0600 keys.
 *
 * X.509 comes from @peculiar/x509 over WebCrypto (`globalThis.crypto`, on Bun, Deno and Node):
 * no hand-written ASN.1. Keys are ECDSA P-256 signed with SHA-256, which nats-server (Go), Node's
 * OpenSSL, Bun's BoringSSL and Deno's rustls all accept.
 */
// @peculiar/x509 v2 resolves its algorithm providers through tsyringe, which needs the Reflect
// metadata API (the library's README asks its users to load a polyfill first).
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past, so a peer whose clock is behind accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

/** A certificate authority: its certificate and its private key (PKCS#8), both PEM. */
export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A certificate issued by a CA: the certificate, its private key (PKCS#8) and the CA's certificate, PEM. */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
}

export interface LocalCaOptions {
  /** The CA's subject common name. */
  readonly commonName: string;
  readonly validDays: number;
}

export const defaultLocalCaOptions: LocalCaOptions = {
  commonName: "Troupe local CA",
  validDays: 365,
};

/** What a certificate may be used for: a TLS server, a TLS client (mutual TLS), or both. */
export type CertificateUsage = "server" | "client" | "both";

export interface CertificateOptions {
  /** The subject common name: a host for a server, the process (actor) name for a client. */
  readonly commonName: string;
  /** DNS names in the subject alternative name; what clients verify a server against. */
  readonly dnsNames: readonly string[];
  /** IP addresses (IPv4 or IPv6) in the subject alternative name. */
  readonly ipAddresses: readonly string[];
  readonly usage: CertificateUsage;
  /** Clamped to the CA's own expiry. */
  readonly validDays: number;
}

/** The names every local server certificate covers. */
export const LOCAL_DNS_NAMES: readonly string[] = ["localhost"];
export const LOCAL_IP_ADDRESSES: readonly string[] = ["127.0.0.1", "::1"];

/**
 * The defaults of `issueCertificate`. The names are those of a local server; a certificate for
 * `usage: "client"` gets no names unless given some.
 */
export const defaultCertificateOptions: Omit<CertificateOptions, "commonName"> = {
  dnsNames: LOCAL_DNS_NAMES,
  ipAddresses: LOCAL_IP_ADDRESSES,
  usage: "server",
  validDays: 90,
};

/** Creates a self-signed CA that may sign end-entity certificates only (path length 0). */
export async function createLocalCa(partial: Partial<LocalCaOptions> = {}): Promise<CertificateAuthority> {
  const options: LocalCaOptions = { ...defaultLocalCaOptions, ...partial };
  requirePositive("validDays", options.validDays);
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [options.commonName] }],
    keys,
    notBefore,
    notAfter: new Date(notBefore.getTime() + options.validDays * DAY_MS),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Issues a certificate signed by `ca`, with a new key. */
export async function issueCertificate(
  ca: CertificateAuthority,
  partial: Partial<CertificateOptions> & Pick<CertificateOptions, "commonName">,
): Promise<IssuedCertificate> {
  const usage = partial.usage ?? defaultCertificateOptions.usage;
  const names = usage === "client" ? { dnsNames: [], ipAddresses: [] } : {};
  const options: CertificateOptions = { ...defaultCertificateOptions, ...names, ...partial };
  requirePositive("validDays", options.validDays);
  const caCert = parseCertificate(ca.certPem, "the CA certificate");
  const caKey = await importKeyPem(ca.keyPem);
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const notAfter = new Date(
    Math.min(notBefore.getTime() + options.validDays * DAY_MS, caCert.notAfter.getTime()),
  );
  const extendedUsages = [
    ...(usage === "client" ? [] : [x509.ExtendedKeyUsage.serverAuth]),
    ...(usage === "server" ? [] : [x509.ExtendedKeyUsage.clientAuth]),
  ];
  const altNames: x509.JsonGeneralNames = [
    ...options.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...options.ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [options.commonName] }],
    issuer: caCert.subjectName,
    publicKey: keys.publicKey,
    signingKey: caKey,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(extendedUsages, false),
      ...(altNames.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(altNames, false)]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKeyPem(keys.privateKey), caPem: ca.certPem };
}

/** What a certificate says about itself, for checks and for reuse decisions. */
export interface CertificateFacts {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly usage: CertificateUsage | undefined;
}

/** Reads a PEM certificate; throws an Error naming `what` when it is not one. */
export function describeCertificate(certPem: string, what = "the certificate"): CertificateFacts {
  const cert = parseCertificate(certPem, what);
  const names = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  const extended = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [];
  const server = extended.includes(x509.ExtendedKeyUsage.serverAuth);
  const client = extended.includes(x509.ExtendedKeyUsage.clientAuth);
  return {
    commonName: cert.subjectName.getField("CN")[0] ?? "",
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    usage: server && client ? "both" : server ? "server" : client ? "client" : undefined,
  };
}

/**
 * True when `certPem` was signed by the CA `caPem` and `keyPem` is its private key. False, not an
 * exception, for anything that does not parse.
 */
export async function isIssuedBy(
  issued: Pick<IssuedCertificate, "certPem" | "keyPem">,
  caPem: string,
): Promise<boolean> {
  try {
    const cert = new x509.X509Certificate(issued.certPem);
    const ca = new x509.X509Certificate(caPem);
    if (cert.issuer !== ca.subject) return false;
    if (!(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }))) return false;
    return await keyMatches(cert, issued.keyPem);
  } catch {
    return false;
  }
}

/** True when `keyPem` is the private key of `cert`'s public key. */
export async function keyMatches(cert: x509.X509Certificate | string, keyPem: string): Promise<boolean> {
  try {
    const certificate = typeof cert === "string" ? new x509.X509Certificate(cert) : cert;
    const privateJwk = await globalThis.crypto.subtle.exportKey("jwk", await importKeyPem(keyPem, true));
    const publicJwk = await globalThis.crypto.subtle.exportKey(
      "jwk",
      await certificate.publicKey.export(ALGORITHM, ["verify"]),
    );
    return privateJwk.x === publicJwk.x && privateJwk.y === publicJwk.y;
  } catch {
    return false;
  }
}

function generateKeys(): Promise<CryptoKeyPair> {
  return globalThis.crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await globalThis.crypto.subtle.exportKey("pkcs8", key);
  return `${x509.PemConverter.encode(der, "PRIVATE KEY")}\n`;
}

async function importKeyPem(keyPem: string, extractable = false): Promise<CryptoKey> {
  let der: ArrayBuffer;
  try {
    const [first] = x509.PemConverter.decode(keyPem);
    if (first === undefined) throw new Error("no PEM block");
    der = first;
  } catch {
    throw new Error("the private key is not PEM (expected a PKCS#8 'PRIVATE KEY' block)");
  }
  return globalThis.crypto.subtle.importKey("pkcs8", der, ALGORITHM, extractable, ["sign"]);
}

function parseCertificate(certPem: string, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${what} is not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function requirePositive(name: string, value: number): void {
  if (!(value > 0)) throw new Error(`${name} must be a positive number of days, got ${value}`);
}
