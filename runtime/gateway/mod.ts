/**
 * `troupe/gateway`: the HTTP edge (a Hono app and one HTTP/1.1 + h2c port; docs/adr/0008-gateway.md),
 * REST transcoding from google.api.http (docs/adr/0009-rest-transcoding.md) and the Prometheus
 * page of /metrics (docs/adr/0014-tracing-and-metrics.md).
 */
export { defaultHttpLimits, type HttpLimits } from "../platform/connection-guard.ts";
export type { HttpTlsOptions } from "../platform/http2-server.ts";
export { type LoadedContracts, loadContracts } from "../process/load-contracts.ts";
export { type GatewayProcess, runGateway } from "../process/run-gateway.ts";
export { defaultJwtOptions, type JwtOptions } from "./authenticate.ts";
export { createGateway, type Gateway } from "./create-gateway.ts";
export { gatewayDeclaration } from "./gateway-declaration.ts";
export { defaultGatewayOptions, type GatewayInit, type GatewayOptions } from "./gateway-options.ts";
export { publicServices } from "./method-exposure.ts";
export {
  defaultRenderMetricsOptions,
  PROMETHEUS_CONTENT_TYPE,
  type RenderMetricsOptions,
  renderMetrics,
  renderPrometheus,
} from "./prometheus.ts";
export { parseRateLimit, type RateLimit } from "./rate-limiter.ts";
export {
  defaultServeGatewayOptions,
  GATEWAY_SERVICE_NAME,
  type RunningGateway,
  type ServeGatewayOptions,
  serveGateway,
} from "./serve-gateway.ts";
export { type OpenApiOptions, openApiDocument } from "./transcoding/openapi-document.ts";
export { restRequest } from "./transcoding/rest-request.ts";
export { restResponse } from "./transcoding/rest-response.ts";
export { createRestRouter, type RestMatch, type RestRouter } from "./transcoding/rest-router.ts";
export { type RestRoute, restRoutes } from "./transcoding/rest-routes.ts";
