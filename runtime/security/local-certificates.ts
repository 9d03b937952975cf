/**
 * Certificates as files: a bundle of PEM files in a folder (private keys 0600), and a local PKI
 * kept in a data folder, reused while valid and issued anew when missing, expiring, or no
 * longer signed by the folder's CA (docs/guide/tls.md). `troupe dev` keeps its certificates so;
 * the file names are those the nats CLI and Troupe's environment take (NATS_CA, NATS_CERT,
 * NATS_KEY).
 */
import { fileExists, joinPath, makeDir, readTextFile, writeFileAtomically } from "../platform/files.ts";
import {
  type CertificateAuthority,
  type CertificateUsage,
  createLocalCa,
  describeCertificate,
  type IssuedCertificate,
  isIssuedBy,
  issueCertificate,
  keyMatches,
  LOCAL_DNS_NAMES,
  LOCAL_IP_ADDRESSES,
} from "./certificates.ts";

/** Where a certificate's files are: the form nats-server, the harness and the clients take. */
export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA certificate that verifies the peer (and signed this certificate). */
  readonly caFile: string;
}

const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Writes `<dir>/<name>.pem`, `<dir>/<name>-key.pem` (mode 0600) and the CA's certificate
 * `<dir>/ca.pem`, each atomically, creating `dir` when missing.
 */
export function writeCertificateFiles(
  dir: string,
  name: string,
  issued: IssuedCertificate,
): CertificateFiles {
  checkName(name);
  makeDir(dir);
  const files = certificateFilesOf(dir, name);
  writeFileAtomically(files.caFile, issued.caPem, CERT_MODE);
  writeFileAtomically(files.keyFile, issued.keyPem, KEY_MODE);
  writeFileAtomically(files.certFile, issued.certPem, CERT_MODE);
  return files;
}

/** Reads a bundle back; undefined when a file is missing or unreadable. */
export function readCertificateFiles(files: CertificateFiles): IssuedCertificate | undefined {
  const certPem = readTextFile(files.certFile);
  const keyPem = readTextFile(files.keyFile);
  const caPem = readTextFile(files.caFile);
  return certPem === undefined || keyPem === undefined || caPem === undefined
    ? undefined
    : { certPem, keyPem, caPem };
}

export interface LocalCertificatesOptions {
  /** One client certificate per name (a process: an actor, the gateway, the CLI), for mutual TLS. */
  readonly clients: readonly string[];
  /** The server certificate's DNS names and IP addresses. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly caValidDays: number;
  readonly validDays: number;
  /** A certificate (the CA's too) that expires within this many days is issued anew. */
  readonly renewBeforeDays: number;
}

export const defaultLocalCertificatesOptions: LocalCertificatesOptions = {
  clients: [],
  dnsNames: LOCAL_DNS_NAMES,
  ipAddresses: LOCAL_IP_ADDRESSES,
  caValidDays: 365,
  validDays: 90,
  renewBeforeDays: 10,
};

export interface LocalCertificates {
  readonly dir: string;
  /** The CA certificate every peer verifies against (NATS_CA, the server's `ca_file`). */
  readonly caFile: string;
  /** The server's certificate (`localhost`, 127.0.0.1 and ::1 by default), for nats-server and the gateway. */
  readonly server: CertificateFiles;
  /** A client certificate per name of `clients` (NATS_CERT, NATS_KEY). */
  readonly clients: Readonly<Record<string, CertificateFiles>>;
  /** The files written by this call: empty when everything was reused. */
  readonly written: readonly string[];
}

/**
 * Makes sure `dir` holds a local CA (`ca.pem`, `ca-key.pem`), a server certificate (`server.pem`,
 * `server-key.pem`) and a client certificate per name (`client-<name>.pem`,
 * `client-<name>-key.pem`). Files that are valid, signed by the CA, not within `renewBeforeDays`
 * of expiry and issued for the same names are kept; anything else is issued anew, and a new CA
 * means new certificates for everyone. Idempotent: a second call writes nothing.
 */
export async function ensureLocalCertificates(
  dir: string,
  partial: Partial<LocalCertificatesOptions> = {},
): Promise<LocalCertificates> {
  const options: LocalCertificatesOptions = { ...defaultLocalCertificatesOptions, ...partial };
  for (const name of options.clients) checkName(name);
  makeDir(dir);
  const written: string[] = [];
  const renewBefore = new Date(Date.now() + options.renewBeforeDays * 24 * 60 * 60 * 1000);

  const caFile = joinPath(dir, "ca.pem");
  const caKeyFile = joinPath(dir, "ca-key.pem");
  let ca = await reusableCa(caFile, caKeyFile, renewBefore);
  if (ca === undefined) {
    ca = await createLocalCa({ validDays: options.caValidDays });
    writeFileAtomically(caKeyFile, ca.keyPem, KEY_MODE);
    writeFileAtomically(caFile, ca.certPem, CERT_MODE);
    written.push(caKeyFile, caFile);
  }

  const keep = async (
    name: string,
    usage: CertificateUsage,
    commonName: string,
    names: { dnsNames: readonly string[]; ipAddresses: readonly string[] },
  ): Promise<CertificateFiles> => {
    const files = { ...certificateFilesOf(dir, name), caFile };
    const existing = readCertificateFiles(files);
    if (existing !== undefined && (await isReusable(existing, ca, usage, commonName, names, renewBefore))) {
      return files;
    }
    const issued = await issueCertificate(ca, { commonName, usage, validDays: options.validDays, ...names });
    writeFileAtomically(files.keyFile, issued.keyPem, KEY_MODE);
    writeFileAtomically(files.certFile, issued.certPem, CERT_MODE);
    written.push(files.keyFile, files.certFile);
    return files;
  };

  const server = await keep("server", "server", options.dnsNames[0] ?? "localhost", {
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses,
  });
  const clients: Record<string, CertificateFiles> = {};
  for (const name of options.clients) {
    clients[name] = await keep(`client-${name}`, "client", name, { dnsNames: [], ipAddresses: [] });
  }
  return { dir, caFile, server, clients, written };
}

function certificateFilesOf(dir: string, name: string): CertificateFiles {
  return {
    certFile: joinPath(dir, `${name}.pem`),
    keyFile: joinPath(dir, `${name}-key.pem`),
    caFile: joinPath(dir, "ca.pem"),
  };
}

async function reusableCa(
  caFile: string,
  caKeyFile: string,
  renewBefore: Date,
): Promise<CertificateAuthority | undefined> {
  if (!fileExists(caFile) || !fileExists(caKeyFile)) return undefined;
  const certPem = readTextFile(caFile);
  const keyPem = readTextFile(caKeyFile);
  if (certPem === undefined || keyPem === undefined) return undefined;
  try {
    const facts = describeCertificate(certPem);
    if (!facts.isCa || facts.notAfter <= renewBefore || facts.notBefore > new Date()) return undefined;
    return (await keyMatches(certPem, keyPem)) ? { certPem, keyPem } : undefined;
  } catch {
    return undefined;
  }
}

async function isReusable(
  existing: IssuedCertificate,
  ca: CertificateAuthority,
  usage: CertificateUsage,
  commonName: string,
  names: { dnsNames: readonly string[]; ipAddresses: readonly string[] },
  renewBefore: Date,
): Promise<boolean> {
  if (!(await isIssuedBy(existing, ca.certPem))) return false;
  const facts = describeCertificate(existing.certPem);
  return (
    facts.usage === usage &&
    facts.commonName === commonName &&
    facts.notAfter > renewBefore &&
    facts.notBefore <= new Date() &&
    sameSet(facts.dnsNames, names.dnsNames) &&
    sameSet(facts.ipAddresses, names.ipAddresses)
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  return left.size === new Set(b).size && b.every((x) => left.has(x));
}

function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new Error(
      `a certificate name must be letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(name)}`,
    );
  }
}
