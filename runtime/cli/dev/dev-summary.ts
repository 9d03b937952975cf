/**
 * What `troupe dev` prints once everything is ready: where each part listens and commands to
 * paste (curl for REST, grpcurl for gRPC, the nats CLI, `troupe services`). Printed without the
 * name prefix so that lines can be copied as they are.
 */
export interface DevSummary {
  readonly gatewayUrl: string | undefined;
  readonly natsUrl: string;
  /** The nats-server's store, or undefined for an external NATS_URL. */
  readonly natsStore: string | undefined;
  readonly smtpUrl: string;
  readonly mailDir: string;
  readonly dataDir: string;
  readonly token: string;
  readonly tokenSubject: string;
  readonly processes: readonly string[];
  readonly startupMs: number;
}

export function formatSummary(summary: DevSummary): string[] {
  const nats = `nats --server ${summary.natsUrl}`;
  const lines = [
    "",
    `  Troupe is running: ${summary.processes.join(", ")} (ready in ${(summary.startupMs / 1_000).toFixed(1)} s)`,
    "",
  ];
  if (summary.gatewayUrl !== undefined) {
    lines.push(`  gateway  ${summary.gatewayUrl}  REST, Connect, gRPC-Web and gRPC on one port`);
  }
  lines.push(
    `  nats     ${summary.natsUrl}${summary.natsStore === undefined ? "  (external)" : `  JetStream store in ${summary.natsStore}`}`,
    `  mail     ${summary.smtpUrl}  every mail is saved in ${summary.mailDir}`,
    `  data     ${summary.dataDir}  kept between runs; delete it to start afresh`,
    "",
  );
  if (summary.gatewayUrl !== undefined) {
    const url = summary.gatewayUrl;
    const host = url.replace(/^https?:\/\//, "");
    lines.push(
      `  # a development token (sub=${summary.tokenSubject}, valid 12 h) for the routes that need one`,
      `  export TOKEN=${summary.token}`,
      "",
      `  curl ${url}/v1/products`,
      `  curl ${url}/v1/products/p-1001`,
      `  curl -X POST ${url}/v1/users -H 'content-type: application/json' \\`,
      `    -d '{"idempotencyKey":"k-1","email":"ada@example.com","displayName":"Ada"}'`,
      `  curl -H "authorization: Bearer $TOKEN" ${url}/v1/users/<user id>`,
      `  grpcurl -plaintext -import-path proto -proto shop/v1/product.proto \\`,
      `    -d '{"id":"p-1001"}' ${host} shop.v1.ProductService/GetProduct`,
      "",
    );
  }
  lines.push(
    `  ${nats} micro ls`,
    `  ${nats} req rpc.shop.v1.ProductService.GetProduct '{"id":"p-1001"}'`,
    `  ${nats} sub 'evt.>'`,
    "  npm run troupe -- services",
    "",
    "  Ctrl-C stops everything.",
    "",
  );
  return lines;
}
