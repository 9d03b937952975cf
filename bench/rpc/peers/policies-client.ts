/**
 * The Troupe peer's client with the default policy set: `createNatsTransport({ nc, policies })`
 * with `createCallPolicies()` (deadline inheritance, retries, circuit breaker) and a span per
 * call through the OpenTelemetry API with no SDK registered (the no-op tracer), against the
 * Troupe peer's server. Echo's contract says nothing about idempotency, so it is not retried:
 * the retry policy costs only its decision.
 */
import { createClient } from "@connectrpc/connect";
import { connect } from "@nats-io/transport-node";
import { trace } from "@opentelemetry/api";
import { createNatsTransport } from "troupe";
import { type CallPolicy, createCallPolicies } from "troupe/resilience";
import { BenchService } from "../../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { connectEcho } from "../connect-echo.ts";
import type { PeerClient } from "../peer-client.ts";

/** The policies, with each call in a client span (what a tracing policy does, on the no-op API). */
function traced(inner: CallPolicy): CallPolicy {
  const tracer = trace.getTracer("troupe-bench");
  return {
    unary(method, timeoutMs, signal, attempt) {
      const span = tracer.startSpan(method.name);
      return inner.unary(method, timeoutMs, signal, attempt).then(
        (value) => {
          span.end();
          return value;
        },
        (err: unknown) => {
          span.end();
          throw err;
        },
      );
    },
    stream: (timeoutMs, signal) => inner.stream(timeoutMs, signal),
  };
}

export async function connectPoliciesClient(natsUrl: string): Promise<PeerClient> {
  const nc = await connect({ servers: natsUrl });
  const policies = traced(createCallPolicies());
  const client = createClient(BenchService, createNatsTransport({ nc, policies }));
  return {
    echo: connectEcho(client),
    close: () => nc.close(),
  };
}
