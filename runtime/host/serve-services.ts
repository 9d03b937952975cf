/**
 * Serves Connect service implementations over NATS: one queue subscription per proto service on
 * `rpc.<package>.<Service>.*` (queue group = the actor's name, so instances share the load),
 * dispatching by method name. A method the service does not have is answered `unimplemented`;
 * bad input is answered and counted, never thrown. Unary calls take the lean path in
 * serve-unary.ts, streaming calls serve-stream.ts. Past `maxInFlight` calls the host sheds load:
 * a new call is answered `resource_exhausted` at once, before it is decoded. A request that breaks
 * its contract's `buf.validate` rules is refused before the handler runs (request-validator.ts).
 * See docs/adr/0004-rpc-over-nats.md, docs/adr/0011-resilience-policies.md and
 * docs/adr/0018-request-validation.md.
 */
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  createServiceImplSpec,
  type Interceptor,
  type MethodImplSpec,
  type ServiceImpl,
} from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-connect";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { createEndpointStats, type EndpointStatsRecorder } from "../observability/endpoint-stats.ts";
import { createJsonLogger, errorFields, type Logger } from "../observability/logger.ts";
import { endSpan, runInSpan, startServerSpan } from "../observability/tracing.ts";
import { type Codec, type CodecOptions, codecOf, defaultCodecOptions } from "../protocol/codec.ts";
import { Header } from "../protocol/headers.ts";
import { metadataOf } from "../protocol/metadata.ts";
import { pickMessageHeaders } from "../protocol/raw-headers.ts";
import { methodNameOf, rpcMethodSubject, rpcServiceSubject } from "../protocol/subjects.ts";
import { createIdentityCheck } from "./identity-check.ts";
import type { IncomingCall } from "./incoming-call.ts";
import { replyError } from "./reply.ts";
import { type RequestCheck, requestChecksOf } from "./request-validator.ts";
import { serveStream } from "./serve-stream.ts";
import { createUnaryCalls, type LiveCall, serveUnary, type UnaryHost } from "./serve-unary.ts";
import { servedSubjects } from "./served-subjects.ts";
import { PROTOCOL_NAME } from "./unary-context.ts";

/** A proto service and its implementation (Connect's service implementation shape). */
export interface ServiceRegistration<S extends DescService = DescService> {
  readonly service: S;
  readonly implementation: Partial<ServiceImpl<S>>;
}

/** Pairs a service with its implementation, with the implementation's types checked. */
export function implement<S extends DescService>(
  service: S,
  implementation: Partial<ServiceImpl<S>>,
): ServiceRegistration {
  return { service, implementation } as ServiceRegistration;
}

export interface ServeOptions {
  /** The queue group every instance of this actor joins (the actor's name). */
  readonly name: string;
  /**
   * This instance's id: when set, the instance also serves its own subjects
   * (`rpc.<package>.<Service>.<Method>.<id>`) for callers that chose it through discovery.
   */
  readonly instanceId: string;
  /**
   * The actor's semantic version: when set, the instance also serves the per-version subjects
   * (`rpc.<package>.<Service>.<Method>.v.<version>`) that version-aware routing sends to
   * (docs/adr/0012-discovery-direct-calls-and-traffic.md).
   */
  readonly version: string;
  /** Prefix of every Troupe subject, for several systems in one NATS account. */
  readonly namespace: string;
  /** Connect interceptors run around every implementation. */
  readonly interceptors: Interceptor[];
  readonly codecOptions: CodecOptions;
  /**
   * Calls (unary and streams) this instance serves at once; a call past it is answered
   * `resource_exhausted` at once, so callers can try another instance instead of queueing.
   */
  readonly maxInFlight: number;
  /** The longest deadline a caller may ask for; longer ones are cut to it. */
  readonly maxTimeoutMs: number;
  readonly logger: Logger;
  /** Streams: client messages a call may send ahead of its handler. */
  readonly creditWindow: number;
  /** Streams: silence after which the host pings the caller to find out whether it is gone. */
  readonly idleTimeoutMs: number;
  /**
   * Refuse requests (unary, and each message of a stream) that break their contract's
   * `buf.validate` rules with `invalid_argument` before the handler runs. Methods whose input
   * declares no rules are not checked either way.
   */
  readonly validateRequests: boolean;
  /**
   * The gateway's public nkeys: a call carrying identity headers must carry its signature of
   * them (identity-check.ts). Empty: identity headers are taken as they come.
   */
  readonly identityKeys: readonly string[];
}

export const defaultServeOptions: Omit<ServeOptions, "name"> = {
  instanceId: "",
  version: "",
  namespace: "",
  interceptors: [],
  codecOptions: defaultCodecOptions,
  maxInFlight: 1_000,
  maxTimeoutMs: 5 * 60_000,
  logger: createJsonLogger(),
  creditWindow: 64,
  idleTimeoutMs: 5_000,
  validateRequests: true,
  identityKeys: [],
};

/** One RPC method as served: what discovery reports and where its stats are kept. */
export interface HostedEndpoint {
  readonly method: DescMethod;
  readonly subject: string;
  readonly queueGroup: string;
  readonly stats: EndpointStatsRecorder;
}

export interface ServiceHost {
  readonly endpoints: readonly HostedEndpoint[];
  /** Calls accepted and not yet answered (streams until they end). */
  readonly inFlight: number;
  /** Calls refused because `maxInFlight` calls were in flight. */
  readonly shed: number;
  /**
   * Serves a call that came another way than the subscriptions (a direct call by address,
   * direct-listener.ts) exactly as one that came over NATS; false when no served service has
   * the message's subject.
   */
  dispatch(msg: Msg): boolean;
  /**
   * Stops taking calls (the subscriptions are drained, so the queue group sends new calls to
   * other instances), waits up to `graceMs` for in-flight calls to finish, then aborts the rest
   * with `unavailable`. Resolves when no call is in flight.
   */
  drain(graceMs: number): Promise<void>;
}

/** The protocol headers the first message of a call may carry. */
const CALL_HEADERS = [Header.contentType, Header.timeoutMs] as const;

interface MethodEntry {
  readonly spec: MethodImplSpec;
  readonly endpoint: HostedEndpoint;
  /** Undefined when the input declares no rules or validation is off. */
  readonly check: RequestCheck | undefined;
}

export async function serveServices(
  nc: NatsConnection,
  registrations: readonly ServiceRegistration[],
  partial: Partial<ServeOptions> & { name: string },
): Promise<ServiceHost> {
  const options: ServeOptions = { ...defaultServeOptions, ...partial };
  const identityCheck = createIdentityCheck(options.identityKeys);
  if (
    !(options.creditWindow >= 1) ||
    !(options.idleTimeoutMs > 0) ||
    !(options.maxTimeoutMs > 0) ||
    !(options.maxInFlight >= 1)
  ) {
    throw new Error(
      "serveServices: creditWindow and maxInFlight must be >= 1, idleTimeoutMs and maxTimeoutMs > 0",
    );
  }
  const endpoints: HostedEndpoint[] = [];
  const subscriptions: Subscription[] = [];
  /** Each service's subject prefix (`rpc.<package>.<Service>.`) and what serves its messages. */
  const served: { prefix: string; serve: (msg: Msg) => void }[] = [];
  // Streams in flight; unary calls in flight live in their deadline queue.
  const live = new Set<LiveCall>();
  const unaryCalls = createUnaryCalls();
  let inFlight = 0;
  let shed = 0;
  let idle: (() => void) | undefined;

  const finished = () => {
    inFlight--;
    if (inFlight === 0) idle?.();
  };

  const unaryHost: UnaryHost = { nc, options, calls: unaryCalls, finished };
  // Every method's check before anything subscribes: a rule that does not compile leaves nothing behind.
  const checks = options.validateRequests
    ? await requestChecksOf(registrations.flatMap((r) => r.service.methods.map((m) => m.input)))
    : new Map<DescMessage, RequestCheck>();

  for (const { service, implementation } of registrations) {
    const serviceSubject = rpcServiceSubject(service, options.namespace);
    const implSpec = createServiceImplSpec(service, implementation);
    const methods = new Map<string, MethodEntry>();
    for (const method of service.methods) {
      const spec = implSpec.methods[method.localName];
      if (spec === undefined) continue;
      const endpoint: HostedEndpoint = {
        method,
        subject: rpcMethodSubject(method, options.namespace),
        queueGroup: options.name,
        stats: createEndpointStats(),
      };
      endpoints.push(endpoint);
      methods.set(method.name, { spec, endpoint, check: checks.get(method.input) });
    }

    const onMessage = (msg: Msg) => {
      if (msg.reply === undefined || msg.reply === "") return; // nothing to answer to
      const name = methodNameOf(msg.subject, serviceSubject) ?? "";
      const entry = methods.get(name);
      if (entry === undefined) {
        replyError(msg, new ConnectError(`${service.typeName} has no method "${name}"`, Code.Unimplemented));
        return;
      }
      entry.endpoint.stats.begin();
      if (inFlight >= options.maxInFlight) {
        shed++;
        const error = new ConnectError(
          `${options.name} is serving its limit of ${options.maxInFlight} calls: try again or another instance`,
          Code.ResourceExhausted,
        );
        entry.endpoint.stats.record(0, error);
        replyError(msg, error);
        return;
      }
      const [contentType, timeoutHeader] = pickMessageHeaders(msg, CALL_HEADERS);
      const codec = codecOf(contentType, msg.data);
      if (codec === undefined) {
        const error = new ConnectError(
          `unsupported content type "${contentType}": use application/proto or application/json`,
          Code.InvalidArgument,
        );
        entry.endpoint.stats.record(0, error);
        replyError(msg, error);
        return;
      }
      let timeoutMs: number | undefined;
      if (timeoutHeader !== undefined) {
        const parsed = parseTimeout(timeoutHeader, options.maxTimeoutMs);
        if (parsed.error !== undefined) {
          entry.endpoint.stats.record(0, parsed.error);
          replyError(msg, parsed.error);
          return;
        }
        timeoutMs = parsed.timeoutMs;
      }
      const refused = identityCheck?.(entry.spec.method, msg.headers);
      if (refused !== undefined) {
        entry.endpoint.stats.record(0, refused);
        replyError(msg, refused);
        return;
      }
      inFlight++;
      if (entry.spec.kind === "unary") {
        serveUnary(unaryHost, msg, entry.spec, entry.endpoint.stats, codec, timeoutMs, entry.check);
      } else {
        serveStreamingCall(nc, msg, entry, codec, timeoutMs);
      }
    };

    const serveStreamingCall = (
      nc: NatsConnection,
      msg: Msg,
      entry: MethodEntry,
      codec: Codec,
      timeoutMs: number | undefined,
    ) => {
      const started = performance.now();
      const context = createHandlerContext({
        service,
        method: entry.spec.method,
        protocolName: PROTOCOL_NAME,
        requestMethod: "POST",
        url: msg.subject,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        requestHeader: metadataOf(msg.headers).header,
      });
      live.add(context);
      // Undefined unless an OpenTelemetry SDK is installed (observability/tracing.ts).
      const span = startServerSpan(entry.spec.method, msg);
      let done = false;
      const call: IncomingCall = {
        nc,
        msg,
        spec: entry.spec,
        check: entry.check,
        codec,
        codecOptions: options.codecOptions,
        context,
        interceptors: options.interceptors,
        maxPayloadBytes: nc.info?.max_payload ?? 1024 * 1024,
        creditWindow: options.creditWindow,
        idleTimeoutMs: options.idleTimeoutMs,
        done(error) {
          if (done) return;
          done = true;
          live.delete(context);
          entry.endpoint.stats.record((performance.now() - started) * 1e6, error);
          if (span !== undefined) endSpan(span, error);
          if (error !== undefined && error.code === Code.Internal && error.cause !== undefined) {
            options.logger.log("error", "handler failed", {
              method: `${entry.spec.method.parent.typeName}/${entry.spec.method.name}`,
              ...errorFields(error.cause),
            });
          }
          finished();
        },
      };
      try {
        if (span === undefined) serveStream(call);
        else runInSpan(span, () => serveStream(call));
      } catch (err) {
        options.logger.log("error", "stream setup failed", errorFields(err));
        call.done(new ConnectError("internal error", Code.Internal));
      }
    };

    const callback = (err: Error | null, msg: Msg) => {
      if (err !== null) {
        options.logger.log("error", "subscription failed", {
          service: service.typeName,
          ...errorFields(err),
        });
        return;
      }
      try {
        onMessage(msg);
      } catch (err) {
        // Last line of defence: whatever a message does, the actor keeps serving.
        options.logger.log("error", "unexpected failure serving a message", errorFields(err));
      }
    };
    served.push({ prefix: `${serviceSubject}.`, serve: (msg) => callback(null, msg) });
    // Any instance, any instance of this version, this instance only (served-subjects.ts).
    for (const { subject, queue } of servedSubjects(service, options)) {
      subscriptions.push(nc.subscribe(subject, queue === undefined ? { callback } : { queue, callback }));
    }
  }

  // The subscriptions must be registered with the server before callers are told we exist.
  await nc.flush();

  return {
    endpoints,
    get inFlight() {
      return inFlight;
    },
    get shed() {
      return shed;
    },
    dispatch(msg) {
      for (const { prefix, serve } of served) {
        if (!msg.subject.startsWith(prefix)) continue;
        serve(msg);
        return true;
      }
      return false;
    },
    async drain(graceMs) {
      await Promise.all(subscriptions.map((s) => (s.isClosed() ? undefined : s.drain())));
      if (inFlight > 0) {
        const allDone = new Promise<void>((resolve) => {
          idle = resolve;
        });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const graceOver = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), graceMs);
        });
        const outcome = await Promise.race([allDone, graceOver]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          const reason = new ConnectError("the actor is shutting down", Code.Unavailable);
          for (const call of [...live, ...unaryCalls.entries()]) call.abort(reason);
          await allDone;
        }
      }
    },
  };
}
