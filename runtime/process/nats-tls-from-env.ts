/**
 * TLS for a process's NATS connection, from the variables the nats CLI reads (docs/guide/tls.md):
 * NATS_CA (the CA certificate that verifies the server), NATS_CERT + NATS_KEY (this client's
 * certificate and key, for servers that demand one: mutual TLS). A `tls://` server URL demands
 * TLS even without them (the server is then verified against the system's CAs). And the one place
 * that turns a failed TLS connection into words that say what to set.
 */
import type { TlsOptions } from "@nats-io/nats-core";
import { readEnv } from "../platform/env.ts";
import { readTextFile } from "../platform/files.ts";

/**
 * The TLS options of a connection to `servers`, or undefined for cleartext (no TLS variable set
 * and no `tls://` URL: nats.js still upgrades when the server requires TLS). Files are passed by
 * path, so nats.js reads them again at every reconnect and a rotated certificate is picked up;
 * they are checked here first, so a missing one is named. Throws an Error that says what is wrong.
 */
export function natsTlsFromEnv(servers: readonly string[]): TlsOptions | undefined {
  const caFile = readEnv("NATS_CA");
  const certFile = readEnv("NATS_CERT");
  const keyFile = readEnv("NATS_KEY");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error("NATS_CERT and NATS_KEY go together: the client certificate and its private key");
  }
  const demanded = servers.some((server) => /^tls:\/\//i.test(server));
  if (!demanded && caFile === undefined && certFile === undefined) return undefined;
  for (const [name, file] of [
    ["NATS_CA", caFile],
    ["NATS_CERT", certFile],
    ["NATS_KEY", keyFile],
  ] as const) {
    if (file !== undefined && readTextFile(file) === undefined)
      throw new Error(`cannot read ${name} file ${file}`);
  }
  return {
    ...(caFile === undefined ? {} : { caFile }),
    ...(certFile === undefined || keyFile === undefined ? {} : { certFile, keyFile }),
  };
}

/** Node's (and Bun's and Deno's) codes for a server certificate that the client does not trust. */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
]);
/**
 * How the runtimes report a socket the server closed during or right after the handshake: a TLS
 * alert, or whatever the next write or read meets (ECONNRESET on Node, EBADF on Bun, EPIPE or
 * EPERM on Deno); not the codes of a server that was never reached.
 */
const CLOSED_IN_HANDSHAKE = /^(E[A-Z]+|ERR_SSL_\w+)$/;
const NOT_REACHED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
]);

/**
 * The reason a NATS connection failed, with what to do about it when TLS is why: the server's
 * certificate is not trusted (NATS_CA), does not name the host, has expired; the server wants a
 * client certificate (NATS_CERT, NATS_KEY) or refused the one given.
 */
export function describeNatsConnectError(err: unknown, tls: TlsOptions | undefined): string {
  const message = err instanceof Error ? err.message.split("\n")[0]?.trim() || err.name : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const codeText = typeof code === "string" ? code : "";
  if (UNTRUSTED.has(codeText)) {
    return `${message} (${codeText}): the server's certificate is not signed by a CA this client trusts; set NATS_CA to the file of the CA that signed it`;
  }
  if (codeText === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `${message}: the server's certificate does not name the host in the server URL`;
  }
  if (codeText === "CERT_HAS_EXPIRED" || codeText === "CERT_NOT_YET_VALID") {
    return `${message} (${codeText}): the server's certificate is not valid now`;
  }
  if (message.includes("demands a client certificate")) {
    return `${message}: set NATS_CERT and NATS_KEY to a certificate its CA signed`;
  }
  if (tls !== undefined && CLOSED_IN_HANDSHAKE.test(codeText) && !NOT_REACHED.has(codeText)) {
    const given = tls.certFile !== undefined || tls.cert !== undefined;
    return given
      ? `${message} (${codeText}): the server closed the TLS connection; it may refuse this client's certificate (NATS_CERT: not signed by its CA, or not for client use), and its log says why`
      : `${message} (${codeText}): the server closed the TLS connection; its log says why`;
  }
  return message;
}
