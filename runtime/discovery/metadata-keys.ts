/**
 * The metadata keys Troupe puts into its $SRV responses (NATS ADR-32 `metadata`: free-form
 * string maps, immutable once set, named as NATS ADR-33 suggests). Every key is prefixed
 * `troupe.` so it cannot collide with keys that NATS tools or users add. Values are always
 * strings. See docs/adr/0005-discovery-with-srv.md.
 */

/** Service-level metadata (`metadata` of PING, INFO and STATS). */
export const ServiceMetadata = {
  /** The proto services this instance serves, comma-separated type names: `shop.v1.UserService`. */
  services: "troupe.services",
  /** The JavaScript runtime and its version: `bun 1.4.5`, `deno 2.9.6`, `node 26.10.0`. */
  runtime: "troupe.runtime",
  /** The host name of the machine or container. */
  host: "troupe.host",
  /** The version of Troupe the instance runs on. */
  version: "troupe.version",
  /**
   * The contracts the instance serves, publishes and consumes, as `sha256:<hex>` of their
   * FileDescriptorSet (docs/adr/0022-contract-descriptors.md); absent when it has none.
   */
  descriptors: "troupe.descriptors",
  /**
   * The KV bucket that holds that FileDescriptorSet under its hash (`troupe_descriptors`,
   * `acme_troupe_descriptors`), or `none` when the server has no JetStream to keep it in.
   */
  descriptorsBucket: "troupe.descriptors.bucket",
  /**
   * `host:port` of the instance's listener for direct calls by address
   * (docs/adr/0031-direct-calls-by-address.md); absent when it takes calls over NATS only.
   */
  direct: "troupe.direct",
} as const;
/** The value of `troupe.descriptors.bucket` when the descriptors are kept nowhere (no JetStream). */
export const NO_DESCRIPTORS_BUCKET = "none";

export type ServiceMetadataKey = (typeof ServiceMetadata)[keyof typeof ServiceMetadata];

/** Endpoint-level metadata (`endpoints[].metadata` of INFO): one endpoint per RPC method. */
export const EndpointMetadata = {
  /** The method kind, one of `RpcKind`. */
  kind: "troupe.kind",
  /** The request message type name: `shop.v1.GetUserRequest`. */
  input: "troupe.input",
  /** The response message type name: `shop.v1.User`. */
  output: "troupe.output",
  /** Whether a retry is safe, one of `Idempotency` (the proto `idempotency_level` option). */
  idempotency: "troupe.idempotency",
} as const;
export type EndpointMetadataKey = (typeof EndpointMetadata)[keyof typeof EndpointMetadata];

/** Values of `troupe.kind`: spelled as protobuf-es spells `DescMethod.methodKind`. */
export const RpcKind = {
  unary: "unary",
  serverStreaming: "server_streaming",
  clientStreaming: "client_streaming",
  bidiStreaming: "bidi_streaming",
} as const;
export type RpcKind = (typeof RpcKind)[keyof typeof RpcKind];

/**
 * Values of `troupe.idempotency`: google.protobuf.MethodOptions.IdempotencyLevel in lower snake
 * case (NO_SIDE_EFFECTS, IDEMPOTENT, IDEMPOTENCY_UNKNOWN).
 */
export const Idempotency = {
  noSideEffects: "no_side_effects",
  idempotent: "idempotent",
  unknown: "unknown",
} as const;
export type Idempotency = (typeof Idempotency)[keyof typeof Idempotency];

/** The value of `troupe.services` for these proto service type names. */
export function formatServiceList(typeNames: readonly string[]): string {
  return typeNames.join(",");
}

/** The proto service type names in a `troupe.services` value (none when absent or empty). */
export function parseServiceList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
}
