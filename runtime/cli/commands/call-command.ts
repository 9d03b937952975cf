/**
 * `troupe call <package.Service/Method> [json]`: calls a method of a running service with JSON,
 * with no `.proto` file at hand: the schemas come from the contract descriptors the instances
 * publish (`troupe.descriptors` in `$SRV.INFO`, docs/adr/0022-contract-descriptors.md). Unary and
 * server streaming take the request as the argument; client and bidi streaming read NDJSON (one
 * request per line) from stdin. A unary response prints as JSON, streamed responses as NDJSON.
 *
 * Where the call goes (docs/adr/0012-discovery-direct-calls-and-traffic.md): `--instance <id>`
 * to one instance, `--version <exact or range>` to one version (a range picks the highest running
 * version in it), else as any caller's would: by the service's routing record when there is one,
 * else to any instance. The call is a Connect call over the NATS transport, so deadlines, errors
 * and headers (`-H key:value`, sent as request metadata) are those of a call between actors.
 */
import {
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  type DescService,
  type FileRegistry,
  fromJson,
  type JsonValue,
  toJson,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { maxSatisfying, valid, validRange } from "semver";
import { serviceInfos } from "../../discovery/discover.ts";
import { NO_DESCRIPTORS_BUCKET, parseServiceList, ServiceMetadata } from "../../discovery/metadata-keys.ts";
import type { InfoResponse } from "../../discovery/service-responses.ts";
import { readDescriptorRegistry } from "../../inspect/descriptor-registry.ts";
import { hashOfReference } from "../../protocol/descriptor-set.ts";
import { decodeRoute, type RouteTable } from "../../protocol/route-record.ts";
import { routesBucketName } from "../../protocol/subjects.ts";
import type { CallTarget } from "../../transports/call-router.ts";
import { createNatsTransport } from "../../transports/nats-transport.ts";
import {
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  type ConnectionArgs,
  connectionArgs,
  parseDuration,
  withConnection,
} from "../cli-connection.ts";
import { type CliCommand, parseFlags, UsageError } from "../command.ts";
import { CommandError, reportFailures } from "../command-errors.ts";
import { type CommandIo, processIo } from "../command-io.ts";

export const callUsage = `Usage: troupe call <package.Service/Method> [json] [options]

Calls a method of a running service with JSON. The request and response types come from the
contract descriptors the service publishes: no .proto file is needed.

  unary, server streaming      the request is the JSON argument ({} when left out; - reads it
                               from stdin); a unary response prints as JSON, a stream as NDJSON
  client, bidi streaming       the requests are NDJSON on stdin, one per line; the response(s)
                               print as for unary and server streaming

Options:
  -H, --header <key:value>     request metadata; repeatable
  --timeout <d>                the call's deadline (default 10s for unary, 5m for streams)
  --version <version|range>    call this version, or the highest running one in a semver range
                               (1.1.0, ^1.1.0, >=2.0.0-0)
  --instance <id>              call this instance (troupe info lists the ids)
  --count <n>                  end a response stream after n messages
  --json                       compact JSON (a unary response on one line)
${CONNECTION_USAGE}
  -h, --help                   this help

Without --version or --instance a call goes where the service's routing record (troupe routes)
sends it, else to any instance.
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  header: { type: "string", short: "H", multiple: true },
  timeout: { type: "string" },
  version: { type: "string" },
  instance: { type: "string" },
  count: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface CallArgs {
  /** `shop.v1.ProductService`. */
  readonly service: string;
  readonly method: string;
  /** The JSON argument, if given. */
  readonly request: string | undefined;
  readonly headers: readonly (readonly [string, string])[];
  /** undefined: the default of the method kind. */
  readonly timeoutMs: number | undefined;
  readonly version: string | undefined;
  readonly instance: string | undefined;
  readonly count: number | undefined;
  readonly json: boolean;
  readonly connection: ConnectionArgs;
}

export const DEFAULT_UNARY_TIMEOUT_MS = 10_000;
export const DEFAULT_STREAM_TIMEOUT_MS = 300_000;

export function parseCallArgs(args: readonly string[]): CallArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const [target, request, ...more] = positionals;
  if (target === undefined) throw new UsageError("which method? troupe call <package.Service/Method> [json]");
  if (more.length > 0) {
    throw new UsageError(`one JSON argument at most (quote it), got ${positionals.slice(1).join(" ")}`);
  }
  const slash = target.indexOf("/");
  const split = slash >= 0 ? slash : target.lastIndexOf(".");
  const service = target.slice(0, Math.max(split, 0));
  const method = target.slice(split + 1);
  if (split <= 0 || method === "" || method.includes("/")) {
    throw new UsageError(
      `the method is <package.Service/Method>, e.g. shop.v1.ProductService/GetProduct, got "${target}"`,
    );
  }
  if (values.version !== undefined && values.instance !== undefined) {
    throw new UsageError("--version and --instance exclude each other (an instance has one version)");
  }
  if (values.version !== undefined && valid(values.version) === null && validRange(values.version) === null) {
    throw new UsageError(
      `--version must be a version or a semver range (1.1.0, ^1.1.0), got "${values.version}"`,
    );
  }
  const headers = (values.header ?? []).map((h): [string, string] => {
    const colon = h.indexOf(":");
    const key = colon > 0 ? h.slice(0, colon).trim() : "";
    if (key === "" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      throw new UsageError(`-H takes key:value, got "${h}"`);
    }
    return [key, h.slice(colon + 1).trim()];
  });
  let count: number | undefined;
  if (values.count !== undefined) {
    count = Number(values.count);
    if (!/^\d+$/.test(values.count) || count < 1) {
      throw new UsageError(`--count must be a whole number >= 1, got "${values.count}"`);
    }
  }
  return {
    service,
    method,
    request,
    headers,
    timeoutMs: values.timeout === undefined ? undefined : parseDuration("timeout", values.timeout, 0),
    version: values.version,
    instance: values.instance,
    count,
    json: values.json === true,
    connection: connectionArgs(values),
  };
}

/** The method and the registry its types resolve in, from the descriptors of `instances`. */
export async function resolveMethod(
  nc: NatsConnection,
  instances: readonly InfoResponse[],
  serviceName: string,
  methodName: string,
): Promise<{ method: DescMethod; registry: FileRegistry }> {
  const problems: string[] = [];
  const tried = new Set<string>();
  let service: DescService | undefined;
  let registry: FileRegistry | undefined;
  for (const info of instances) {
    const instance = `${info.name}/${info.id}`;
    const hash = hashOfReference(info.metadata[ServiceMetadata.descriptors]);
    const bucket = info.metadata[ServiceMetadata.descriptorsBucket] ?? "";
    if (hash === undefined) {
      problems.push(`${instance} names no descriptors (troupe.descriptors)`);
      continue;
    }
    if (tried.has(hash)) continue;
    tried.add(hash);
    if (bucket === NO_DESCRIPTORS_BUCKET) {
      problems.push(`${instance} runs without JetStream, so its descriptors are stored nowhere`);
      continue;
    }
    try {
      registry = await readDescriptorRegistry(nc, { instance, hash, bucket });
      service = registry.getService(serviceName);
      if (service !== undefined) break;
      problems.push(`the descriptors of ${instance} do not describe ${serviceName}`);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (service === undefined || registry === undefined) {
    throw new CommandError(`cannot read the contract of ${serviceName}: ${problems.join("; ")}`);
  }
  const method = service.methods.find((m) => m.name === methodName);
  if (method === undefined) {
    throw new CommandError(
      `${serviceName} has no method "${methodName}"; its methods: ${service.methods.map((m) => m.name).join(", ")}`,
    );
  }
  return { method, registry };
}

/** Where the call goes: `--instance`, `--version` (a range resolved against running versions), or nothing. */
export function chooseTarget(args: CallArgs, instances: readonly InfoResponse[]): CallTarget {
  if (args.instance !== undefined) {
    if (!instances.some((i) => i.id === args.instance)) {
      throw new CommandError(
        `no instance "${args.instance}" serves ${args.service}; its instances: ${instances.map((i) => `${i.id} (${i.version})`).join(", ")}`,
      );
    }
    return { instance: args.instance };
  }
  if (args.version === undefined) return undefined;
  const versions = [...new Set(instances.map((i) => i.version))].sort();
  const chosen =
    valid(args.version) !== null
      ? versions.includes(args.version)
        ? args.version
        : null
      : maxSatisfying(versions, args.version);
  if (chosen === null) {
    throw new CommandError(
      `no running version of ${args.service} matches ${args.version}; running: ${versions.join(", ")}`,
    );
  }
  return { version: chosen };
}

/** The routing record of `service` as a one-entry route table, when it has one (read, never created). */
async function routesOf(
  nc: NatsConnection,
  namespace: string,
  service: string,
  io: CommandIo,
): Promise<RouteTable | undefined> {
  let bytes: Uint8Array | undefined;
  try {
    const kv = await new Kvm(nc).open(routesBucketName(namespace));
    const entry = await kv.get(service);
    bytes = entry !== null && entry.operation === "PUT" ? entry.value : undefined;
  } catch {
    return undefined; // no JetStream or no bucket: no record to follow
  }
  if (bytes === undefined) return undefined;
  try {
    const route = decodeRoute(bytes);
    return { routeOf: (name) => (name === service ? route : undefined) };
  } catch (err) {
    io.err(`troupe call: ignoring the routing record of ${service}: ${(err as Error).message}`);
    return undefined;
  }
}

/** A request from JSON text; a protobuf-es error names the field. */
function requestOf(method: DescMethod, registry: FileRegistry, text: string, where: string) {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new CommandError(`${where} is not JSON: ${(err as Error).message}`);
  }
  try {
    return fromJson(method.input, json, { registry });
  } catch (err) {
    throw new CommandError(`${where} is not a ${method.input.typeName}: ${(err as Error).message}`);
  }
}

export async function runCall(args: readonly string[], io: CommandIo = processIo): Promise<number> {
  const parsed = parseCallArgs(args);
  if (parsed === "help") {
    io.out(callUsage);
    return 0;
  }
  return reportFailures("call", io, () =>
    withConnection(parsed.connection, async (nc) => {
      const infos = await serviceInfos(nc, {});
      const serving = infos.filter((i) =>
        parseServiceList(i.metadata[ServiceMetadata.services]).includes(parsed.service),
      );
      if (serving.length === 0) {
        const known = [
          ...new Set(infos.flatMap((i) => parseServiceList(i.metadata[ServiceMetadata.services]))),
        ].sort();
        throw new CommandError(
          `no running service serves ${parsed.service}; the services are: ${known.join(", ") || "none"}`,
        );
      }
      const target = chooseTarget(parsed, serving);
      // The chosen instance's (or version's) contract first: a canary may have changed it.
      const preferred = serving.filter((i) =>
        target === undefined
          ? false
          : "instance" in target
            ? i.id === target.instance
            : i.version === target.version,
      );
      const { method, registry } = await resolveMethod(
        nc,
        [...preferred, ...serving.filter((i) => !preferred.includes(i))],
        parsed.service,
        parsed.method,
      );
      const streamingIn = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
      if (streamingIn && parsed.request !== undefined) {
        throw new UsageError(
          `${parsed.service}/${method.name} is ${method.methodKind.replace("_", " ")}: it reads its requests as NDJSON from stdin, not from an argument`,
        );
      }
      const routes =
        target === undefined
          ? await routesOf(nc, parsed.connection.namespace, parsed.service, io)
          : undefined;
      const timeoutMs =
        parsed.timeoutMs ??
        (method.methodKind === "unary" ? DEFAULT_UNARY_TIMEOUT_MS : DEFAULT_STREAM_TIMEOUT_MS);
      const transport = createNatsTransport({
        nc,
        namespace: parsed.connection.namespace,
        timeoutMs,
        target,
        routes,
      });
      const print = (message: Parameters<typeof toJson>[1], pretty: boolean) => {
        const json = toJson(method.output, message, { registry });
        io.out(pretty ? JSON.stringify(json, null, 2) : JSON.stringify(json));
      };
      const header = new Headers(parsed.headers as [string, string][]);
      return callWith(transport, method, registry, parsed, io, header, timeoutMs, print);
    }),
  );
}

async function callWith(
  transport: Transport,
  method: DescMethod,
  registry: FileRegistry,
  parsed: CallArgs,
  io: CommandIo,
  header: Headers,
  timeoutMs: number,
  print: (message: Parameters<typeof toJson>[1], pretty: boolean) => void,
): Promise<number> {
  const oneRequest = async () => {
    let text = parsed.request ?? "{}";
    if (text === "-") {
      const lines: string[] = [];
      for await (const line of io.stdinLines()) lines.push(line);
      text = lines.join("\n");
    }
    return requestOf(method, registry, text, "the request");
  };

  if (method.methodKind === "unary") {
    const request = await oneRequest();
    const response = await transport.unary(method as DescMethodUnary, undefined, timeoutMs, header, request);
    print(response.message, !parsed.json);
    return 0;
  }

  // A bad line ends the call; the line's problem is what is reported, not the cancelled call.
  let inputError: unknown;
  const requests =
    method.methodKind === "server_streaming"
      ? (async function* () {
          yield await oneRequest();
        })()
      : (async function* () {
          let n = 0;
          for await (const line of io.stdinLines()) {
            n++;
            if (line.trim() === "") continue;
            try {
              yield requestOf(method, registry, line, `stdin line ${n}`);
            } catch (err) {
              inputError = err;
              throw err;
            }
          }
        })();
  const controller = new AbortController();
  let received = 0;
  try {
    const response = await transport.stream(
      method as DescMethodStreaming,
      controller.signal,
      timeoutMs,
      header,
      requests,
    );
    for await (const message of response.message) {
      received++;
      if (parsed.count !== undefined && received > parsed.count) continue;
      print(message, method.methodKind === "client_streaming" && !parsed.json);
      // Cancelled rather than left with `break`: the stream then ends as any cancelled call
      // does, and the loop ends with its `canceled` error.
      if (parsed.count !== undefined && received === parsed.count) {
        controller.abort(new ConnectError(`--count ${parsed.count} reached`, Code.Canceled));
      }
    }
  } catch (err) {
    if (inputError !== undefined) throw inputError;
    if (controller.signal.aborted && parsed.count !== undefined && received >= parsed.count) return 0;
    throw err;
  }
  if (inputError !== undefined) throw inputError;
  return 0;
}

export const callCommand: CliCommand = {
  name: "call",
  summary: "call a method with JSON (all four kinds; no .proto files needed)",
  usage: callUsage,
  run: (args) => runCall(args),
};
