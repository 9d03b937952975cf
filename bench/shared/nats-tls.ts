/**
 * How a benchmark process connects to NATS: a `tls://` URL (the driver's TLS nats-servers) is
 * verified against the CA file in NATS_CA, the variable a Troupe process reads, which the driver
 * sets for its children; the URL in BENCH_SECURED_URL (the driver's server with authentication)
 * is also given the user of BENCH_SECURED_CREDS, with its private inbox prefix, as a Troupe
 * process would connect with `troupe auth generate`'s files. Any other URL connects as before.
 */

import { readFileSync } from "node:fs";
import { credsAuthenticator } from "@nats-io/nats-core";
import { privateInboxPrefix } from "troupe/protocol";

/** The user of the secured peer: its permissions serve and call the benchmark's service only. */
export const BENCH_USER = "bench";

export function natsTlsOptions(natsUrl: string): {
  tls?: { caFile: string };
  authenticator?: ReturnType<typeof credsAuthenticator>;
  inboxPrefix?: string;
} {
  if (!natsUrl.startsWith("tls://")) return {};
  const caFile = process.env.NATS_CA;
  if (caFile === undefined || caFile === "") throw new Error(`NATS_CA must name the CA file for ${natsUrl}`);
  const credsFile = process.env.BENCH_SECURED_CREDS;
  if (natsUrl !== process.env.BENCH_SECURED_URL || credsFile === undefined) return { tls: { caFile } };
  return {
    tls: { caFile },
    authenticator: credsAuthenticator(readFileSync(credsFile)),
    inboxPrefix: privateInboxPrefix(BENCH_USER),
  };
}
