/**
 * REST/JSON at the gateway: a request matched to its method by the `google.api.http` routes
 * (transcoding/), its message built from path variables, query parameters and the JSON body,
 * admitted by the gate like any other call, forwarded over NATS, and answered with the JSON of
 * the response (or the `response_body` field). Errors are Connect's JSON error bodies with the
 * HTTP status of their code (https://connectrpc.com/docs/protocol#error-codes). The caller's
 * deadline is `connect-timeout-ms`, as in Connect's unary protocol.
 *
 * The gate is passed before the body is read, so an unauthenticated caller's body is never
 * parsed; and the route of a private method (a `google.api.http` annotation on a method the
 * contract does not mark public) is refused before the gate, whatever the gate would say: it
 * never reaches the transport (docs/adr/0029-a-hardened-edge.md).
 */
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-connect";
import { errorFields, type Logger } from "../observability/logger.ts";
import { Header } from "../protocol/headers.ts";
import { connectErrorResponse } from "./error-response.ts";
import { type Gate, notPublic } from "./gate.ts";
import { methodExposure, methodPath } from "./method-exposure.ts";
import { publicError } from "./public-error.ts";
import { passOn } from "./response-metadata.ts";
import { restRequest } from "./transcoding/rest-request.ts";
import { restResponse } from "./transcoding/rest-response.ts";
import { createRestRouter } from "./transcoding/rest-router.ts";
import { restRoutes } from "./transcoding/rest-routes.ts";

export interface RestHandlerOptions {
  readonly services: readonly DescService[];
  readonly transport: Transport;
  readonly gate: Gate;
  readonly timeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly logger: Logger;
}

/** Answers a REST request, or resolves undefined when no route has its path. */
export type RestHandler = (request: Request, requestId: string) => Promise<Response | undefined>;

/** Builds the routes now, so a contract the transcoder refuses stops the gateway at start. */
export function createRestHandler(options: RestHandlerOptions): RestHandler {
  const routes = restRoutes(options.services);
  for (const route of routes) {
    if (methodExposure(route.method).public) continue;
    options.logger.log("warn", "a REST route leads to a method that is not public: the gateway refuses it", {
      method: methodPath(route.method),
      route: `${route.httpMethod} ${route.template}`,
    });
  }
  const router = createRestRouter(routes);
  return async (request, requestId) => {
    const url = new URL(request.url);
    try {
      const match = router.match(request.method, url.pathname);
      if (match === undefined) return undefined;
      if (!("route" in match)) {
        return connectErrorResponse(
          new ConnectError(
            `${request.method} is not allowed on ${url.pathname}; allowed: ${match.allowed.join(", ")}`,
            Code.Unimplemented,
          ),
          requestId,
          405,
          { allow: match.allowed.join(", ") },
        );
      }
      const { route, vars } = match;
      if (!methodExposure(route.method).public) throw notPublic(route.method);
      const header = await options.gate(route.method, request.headers, requestId);
      const body = route.body === "" ? undefined : await jsonBody(request);
      const message = restRequest(route, vars, url.searchParams, body);
      const res = await options.transport.unary(
        route.method,
        request.signal,
        timeoutOf(request.headers, options),
        header,
        message,
      );
      const headers = new Headers({ "content-type": "application/json", [Header.requestId]: requestId });
      passOn(res.header, headers);
      passOn(res.trailer, headers); // plain HTTP/JSON has no trailers: they travel as headers
      return new Response(JSON.stringify(restResponse(route, res.message)), { headers });
    } catch (err) {
      const { error, hidden } = publicError(err);
      if (hidden)
        options.logger.log("error", "REST call failed", {
          path: url.pathname,
          requestId,
          ...errorFields(err),
        });
      return connectErrorResponse(error, requestId);
    }
  };
}

async function jsonBody(request: Request): Promise<unknown> {
  const text = await request.text();
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConnectError(
      `the request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
      Code.InvalidArgument,
    );
  }
}

/**
 * The caller's `connect-timeout-ms`, read as every Connect server reads it (connect-es's own
 * parser: digits only, at most `maxTimeoutMs`), or the gateway's default.
 */
function timeoutOf(headers: Headers, options: RestHandlerOptions): number {
  const { timeoutMs, error } = parseTimeout(headers.get(Header.timeoutMs), options.maxTimeoutMs);
  if (error !== undefined) throw error;
  return Math.max(1, timeoutMs ?? options.timeoutMs);
}
