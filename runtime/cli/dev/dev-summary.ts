/**
 * What `troupe dev` prints once everything is ready: where each part listens, and commands to
 * paste (curl for REST and Connect, the nats CLI, `troupe services`), taken from the project's
 * contracts (dev-examples.ts). Printed without the name prefix so that lines can be copied as
 * they are.
 */
import type { DevExamples } from "./dev-examples.ts";

/** An extra process of troupe.json `services`, as it was started. */
export interface ServiceSummary {
  readonly name: string;
  /** The port chosen for it, if it has one. */
  readonly port: number | undefined;
  /** What the actors got from it (placeholders filled in). */
  readonly env: Readonly<Record<string, string>>;
}

export interface DevSummary {
  readonly gatewayUrl: string | undefined;
  /** The gateway's `/metrics`, on its admin listener; undefined without a gateway. */
  readonly metricsUrl?: string | undefined;
  /** The dashboard (loopback only); undefined when it could not listen. */
  readonly dashboardUrl?: string | undefined;
  readonly natsUrl: string;
  /** The operator's creds file, when the server runs with authentication. */
  readonly natsCreds?: string | undefined;
  /** The CA of the server's TLS certificate, when it speaks TLS. */
  readonly natsCa?: string | undefined;
  /** The nats-server's store, or undefined for an external NATS_URL. */
  readonly natsStore: string | undefined;
  readonly services: readonly ServiceSummary[];
  readonly dataDir: string;
  readonly token: string;
  readonly tokenSubject: string;
  readonly tokenAudience: string;
  readonly processes: readonly string[];
  readonly startupMs: number;
  /** The calls to suggest; undefined when the contracts could not be read. */
  readonly examples: DevExamples | undefined;
}

export function formatSummary(summary: DevSummary): string[] {
  const creds = summary.natsCreds;
  const ca = summary.natsCa;
  const nats = `nats --server ${summary.natsUrl}${creds === undefined ? "" : ` --creds ${creds}`}${ca === undefined ? "" : ` --tlsca ${ca}`}`;
  const width = Math.max(9, ...summary.services.map((s) => s.name.length)) + 2;
  const row = (label: string, text: string) => `  ${label.padEnd(width)}${text}`;
  const lines = [
    "",
    `  Troupe is running: ${summary.processes.join(", ")} (ready in ${(summary.startupMs / 1_000).toFixed(1)} s)`,
    "",
  ];
  if (summary.gatewayUrl !== undefined) {
    lines.push(row("gateway", `${summary.gatewayUrl}  REST, Connect, gRPC-Web and gRPC on one port`));
  }
  if (summary.metricsUrl !== undefined) {
    lines.push(
      row("metrics", `${summary.metricsUrl}  Prometheus text of every instance (admin port, loopback only)`),
    );
  }
  if (summary.dashboardUrl !== undefined) {
    lines.push(
      row(
        "dashboard",
        `${summary.dashboardUrl}  services, streams, dead letters, live events, traces (loopback only)`,
      ),
    );
  }
  lines.push(
    row(
      "nats",
      `${summary.natsUrl}${summary.natsStore === undefined ? "  (external)" : `  JetStream store in ${summary.natsStore}`}`,
    ),
  );
  if (creds !== undefined) {
    lines.push(row("", `each process with the credentials its declaration derives; yours: ${creds}`));
  }
  for (const service of summary.services) {
    const env = Object.entries(service.env).map(([name, value]) => `${name}=${value}`);
    const where = service.port === undefined ? "" : `127.0.0.1:${service.port}`;
    lines.push(row(service.name, [where, ...env].filter((s) => s !== "").join("  ")));
  }
  lines.push(row("data", `${summary.dataDir}  kept between runs; delete it to start afresh`), "");

  const examples = summary.examples;
  if (summary.gatewayUrl !== undefined) {
    const url = summary.gatewayUrl;
    const bearer = (authRequired: boolean) => (authRequired ? `-H "authorization: Bearer $TOKEN" ` : "");
    lines.push(
      `  # a development token (sub=${summary.tokenSubject}, aud=${summary.tokenAudience}, valid 12 h) for the routes that need one`,
      `  export TOKEN=${summary.token}`,
      "",
    );
    for (const route of examples?.rest ?? []) {
      lines.push(`  curl ${bearer(route.authRequired)}${shellQuoted(`${url}${route.path}`)}`);
    }
    if (examples?.unary !== undefined) {
      lines.push(
        `  curl ${bearer(examples.unary.authRequired)}${url}/${examples.unary.path} \\`,
        `    -H 'content-type: application/json' -d '{}'`,
      );
    }
    lines.push(`  curl ${url}/openapi.json`, "");
  }
  lines.push(`  ${nats} micro ls`);
  if (examples?.unary !== undefined) lines.push(`  ${nats} req ${examples.unary.subject} '{}'`);
  lines.push(
    `  ${nats} sub 'evt.>'`,
    "  npx troupe ls",
    "  npx troupe tail 'evt.>'",
    "",
    "  Ctrl-C stops everything.",
    "",
  );
  return lines;
}

/** A URL as a shell word: quoted when it holds a `<placeholder>` (or anything else the shell reads). */
function shellQuoted(url: string): string {
  return /^[\w:/.?=&%-]+$/.test(url) ? url : `'${url}'`;
}
