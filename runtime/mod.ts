/**
 * Troupe's public entry point: what actors, callers and tools import.
 */

// Actors: define, serve, run as a process.
export {
  type ActorContext,
  type ActorDefinition,
  type ContextPublishOptions,
  defineActor,
} from "./actor/define-actor.ts";
export {
  defaultServeActorOptions,
  type RunningActor,
  type ServeActorOptions,
  serveActor,
} from "./actor/serve-actor.ts";
export { type ActorProcess, runActor } from "./cli/run-actor.ts";
export { type GatewayProcess, runGateway } from "./cli/run-gateway.ts";
export {
  createDirectCaller,
  type DirectCaller,
  type DirectCallerOptions,
  defaultDirectCallerOptions,
} from "./discovery/direct-caller.ts";
// Discovery: services, instances, endpoints and stats over $SRV (NATS ADR-32).
export {
  type DiscoverOptions,
  defaultDiscoverOptions,
  pingServices,
  serviceInfos,
  serviceStats,
} from "./discovery/discover.ts";
export {
  type DiscoverServiceOptions,
  defaultDiscoverServiceOptions,
  discoverService,
  discoverServing,
  type InstanceEndpoint,
  type ServiceInstance,
} from "./discovery/discover-service.ts";
export type { EndpointMetricsSnapshot } from "./discovery/endpoint-stats.ts";
export { EndpointMetadata, Idempotency, RpcKind, ServiceMetadata } from "./discovery/metadata-keys.ts";
export {
  defaultPickOptions,
  type PickOptions,
  type PickStrategy,
  pickInstance,
} from "./discovery/pick-instance.ts";
export type {
  EndpointInfo,
  EndpointStats,
  InfoResponse,
  PingResponse,
  StatsResponse,
} from "./discovery/service-responses.ts";
// The edge: the gateway (Hono app + one HTTP/1.1 and h2c port; docs/adr/0008-gateway.md) and
// REST transcoding from google.api.http (docs/adr/0009-rest-transcoding.md).
export { defaultJwtOptions, type JwtOptions } from "./gateway/authenticate.ts";
export { createGateway, type Gateway } from "./gateway/create-gateway.ts";
export { defaultGatewayOptions, type GatewayInit, type GatewayOptions } from "./gateway/gateway-options.ts";
export { parseRateLimit, type RateLimit } from "./gateway/rate-limiter.ts";
export {
  defaultServeGatewayOptions,
  GATEWAY_SERVICE_NAME,
  type RunningGateway,
  type ServeGatewayOptions,
  serveGateway,
} from "./gateway/serve-gateway.ts";
export { type OpenApiOptions, openApiDocument } from "./gateway/transcoding/openapi-document.ts";
export { restRequest } from "./gateway/transcoding/rest-request.ts";
export { restResponse } from "./gateway/transcoding/rest-response.ts";
export { createRestRouter, type RestMatch, type RestRouter } from "./gateway/transcoding/rest-router.ts";
export { type RestRoute, restRoutes } from "./gateway/transcoding/rest-routes.ts";
export {
  defaultServeOptions,
  type HostedEndpoint,
  implement,
  type ServeOptions,
  type ServiceHost,
  type ServiceRegistration,
  serveServices,
} from "./host/serve-services.ts";
// Events, work queues and dead letters on JetStream (docs/adr/0007-events-queues-and-dead-letters.md).
export {
  type ConsumeOptions,
  type ConsumeTarget,
  consume,
  defaultConsumeOptions,
  type MessageHandler,
  type MessageMeta,
  type RunningConsumer,
} from "./jetstream/consume.ts";
export {
  type DeadLetter,
  defaultListDeadLettersOptions,
  deleteDeadLetter,
  type ListDeadLettersOptions,
  listDeadLetters,
  type RedriveOptions,
  redriveDeadLetter,
} from "./jetstream/dead-letters.ts";
export {
  type ConsumerOptions,
  type ConsumerSpec,
  defaultConsumerOptions,
  eventConsumer,
  jobConsumer,
  reconcileConsumer,
} from "./jetstream/declare-consumers.ts";
export {
  DUPLICATE_WINDOW_MS,
  deadLetterStream,
  defaultStreamOptions,
  eventStream,
  jobStream,
  type ReconcileResult,
  reconcileStreams,
  type StreamOptions,
  type StreamSpec,
} from "./jetstream/declare-streams.ts";
export {
  defaultIdempotencyGuardOptions,
  type IdempotencyGuard,
  type IdempotencyGuardOptions,
  openIdempotencyGuard,
} from "./jetstream/idempotency-guard.ts";
export { enqueueJob, type PublishAck, type PublishOptions, publishEvent } from "./jetstream/publish.ts";
// Traffic management: weighted routing records per service, watched (ADR 0012).
export {
  defaultRouteStoreOptions,
  defaultWatchRoutesOptions,
  openRouteStore,
  type RouteStore,
  type RouteStoreOptions,
  type WatchedRoutes,
  type WatchRoutesOptions,
} from "./jetstream/route-store.ts";
export type { Publishes } from "./jetstream/serve-subscriptions.ts";
export { CONSUMER_FEATURES, type ServerFeature, STREAM_FEATURES } from "./jetstream/server-features.ts";
// Durable actor state: JetStream KV buckets of protobuf values (ADR 0007, "State").
export { isStateKey, stateKeyOf } from "./jetstream/state-keys.ts";
export {
  defaultStateStoreOptions,
  openStateStore,
  type StateChange,
  type StateEntry,
  type StateStore,
  type StateStoreOptions,
  type StateUpdater,
  type StateWatch,
  type StateWatchOptions,
  type WriteOptions as StateWriteOptions,
} from "./jetstream/state-store.ts";
export { type HandlerSpec, onEvent, onJob, type SubscriptionOptions } from "./jetstream/subscriptions.ts";
export {
  LATENCY_BUCKETS_SECONDS,
  type LatencyHistogramSnapshot,
} from "./observability/latency-histogram.ts";
// Operations.
export {
  createJsonLogger,
  errorFields,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./observability/logger.ts";
export {
  defaultRenderMetricsOptions,
  PROMETHEUS_CONTENT_TYPE,
  type RenderMetricsOptions,
  renderMetrics,
  renderPrometheus,
} from "./observability/prometheus.ts";
// Tracing (docs/adr/0014-tracing-and-metrics.md): spans go through the OpenTelemetry API.
export { activeSpanIds, TRACER_NAME, traceHttpRequest } from "./observability/tracing.ts";
export { readEnv } from "./platform/env.ts";
export { connect } from "./platform/nats-connect.ts";
export {
  defaultTracingSdkOptions,
  installTracing,
  otlpTracesUrl,
  type TracingSdk,
  type TracingSdkOptions,
} from "./platform/tracing-sdk.ts";
// The wire contract.
export { type Codec, codecOf } from "./protocol/codec.ts";
export { Header, StreamFrame } from "./protocol/headers.ts";
export {
  compileRoute,
  pickVersion,
  type RouteRecord,
  type RouteTable,
  type ServiceRoute,
} from "./protocol/route-record.ts";
export {
  formatServerVersion,
  isAtLeast,
  MIN_SERVER_VERSION,
  parseServerVersion,
  type ServerVersion,
} from "./protocol/server-version.ts";
export {
  deadLetterStreamName,
  deadLetterSubject,
  eventConsumerName,
  eventStreamName,
  eventSubject,
  jobConsumerName,
  jobStreamName,
  jobSubject,
  rpcInstanceSubject,
  rpcMethodSubject,
  rpcServiceSubject,
  rpcServiceWildcard,
  rpcVersionSubject,
  ServiceVerb,
  serviceVerbSubject,
  versionToken,
} from "./protocol/subjects.ts";
// Resilience policies (docs/adr/0011-resilience-policies.md).
export {
  type CallPolicies,
  type CallPolicy,
  createCallPolicies,
} from "./resilience/call-policies.ts";
export { type CallScope, currentCallScope, runInCallScope } from "./resilience/call-scope.ts";
export { policyInterceptor } from "./resilience/policy-interceptor.ts";
export {
  type BreakerPolicyOptions,
  type BulkheadPolicyOptions,
  type CallPoliciesInit,
  type CallPoliciesOptions,
  defaultTargetPolicyOptions,
  type HedgePolicyOptions,
  type MethodPolicyOptions,
  type PolicyOverrides,
  type RetryPolicyOptions,
  type TargetPolicyOptions,
} from "./resilience/policy-options.ts";
export type { UnaryAttempt } from "./resilience/resolved-method.ts";
export { defaultRetryBudgetOptions, type RetryBudgetOptions } from "./resilience/retry-budget.ts";
export type { BreakerState, PoliciesSnapshot, TargetSnapshot } from "./resilience/target-state.ts";
// Calling actors: a Connect transport over NATS.
export type { CallTarget } from "./transports/call-router.ts";
export {
  createNatsTransport,
  defaultNatsTransportOptions,
  type NatsTransportOptions,
} from "./transports/nats-transport.ts";
