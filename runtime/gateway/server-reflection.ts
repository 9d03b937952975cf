/**
 * gRPC server reflection for what the gateway exposes, so grpcurl, `buf curl --reflect` and
 * Postman call it without .proto files (docs/adr/0021-grpc-server-reflection.md). Protocol:
 * https://github.com/grpc/grpc/blob/master/doc/server-reflection.md, both
 * `grpc.reflection.v1.ServerReflection` and its wire-identical predecessor `v1alpha`, which many
 * tools still ask first.
 *
 * What it knows is the public services' descriptors and every file they import, transitively
 * (google/api, buf/validate, troupe/v1, the well-known types): the files protoc-gen-es embedded in
 * the generated contracts. It lists only the services with a public method; every file it serves
 * holds only those services and only their public methods, so an internal service or method is
 * not named even when it shares a file with a public one; and only the messages and enums that
 * the public methods reach (through their fields, transitively) or that the files' extensions
 * need, so the events, jobs and private requests declared beside a public method stay unnamed
 * too (docs/adr/0029-a-hardened-edge.md). Reflection tells what the public API is, nothing more.
 */
import {
  clone,
  create,
  createRegistry,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type DescMethod,
  type DescService,
  type Registry,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { methodExposure, publicServices } from "./method-exposure.ts";

/** One request of the reflection stream, as both protocol versions spell it. */
export type ReflectionQuestion =
  | {
      readonly case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
      readonly value: string;
    }
  | {
      readonly case: "fileContainingExtension";
      readonly value: { readonly containingType: string; readonly extensionNumber: number };
    }
  | { readonly case: undefined; readonly value?: undefined };

/** The answer to one request (the `message_response` oneof of ServerReflectionResponse). */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

export interface Reflector {
  /** The full names of the services listed: those of `services` with a public method. */
  readonly services: readonly string[];
  /**
   * Answers one request. `sent` holds the files already sent on this stream: they are not sent
   * again as dependencies (the protocol allows it), only when asked for by name or symbol.
   */
  answer(question: ReflectionQuestion, sent: Set<string>): ReflectionAnswer;
}

/** Builds the answers once: the files' bytes and the symbol index are computed here. */
export function createReflector(services: readonly DescService[]): Reflector {
  const exposed = new Map<string, Set<string>>(
    publicServices(services).map((service) => [
      service.typeName,
      new Set(service.methods.filter((m) => methodExposure(m).public).map((m) => m.name)),
    ]),
  );
  const files = new Map<string, DescFile>();
  const queue = publicServices(services).map((service) => service.file);
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (files.has(file.proto.name)) continue;
    files.set(file.proto.name, file);
    queue.push(...file.dependencies);
  }
  const registry: Registry = createRegistry(...files.values());
  const publicMethods = publicServices(services).flatMap((service) =>
    service.methods.filter((m) => methodExposure(m).public),
  );
  const kept = reachableTypes(publicMethods, [...files.values()]);
  const bytes = new Map(
    [...files].map(([name, file]) => [name, toBinary(FileDescriptorProtoSchema, served(file))]),
  );
  const extensionsOf = new Map<string, DescExtension[]>();
  for (const desc of registry) {
    if (desc.kind !== "extension") continue;
    extensionsOf.set(desc.extendee.typeName, [...(extensionsOf.get(desc.extendee.typeName) ?? []), desc]);
  }

  /** The file as served: only the exposed services with their public methods, only the kept types. */
  function served(file: DescFile) {
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    const prefix = file.proto.package === "" ? "" : `${file.proto.package}.`;
    proto.messageType = proto.messageType.filter((m) => kept.has(`${prefix}${m.name}`));
    proto.enumType = proto.enumType.filter((e) => kept.has(`${prefix}${e.name}`));
    proto.service = proto.service.flatMap((service) => {
      const methods = exposed.get(
        file.proto.package === "" ? service.name : `${file.proto.package}.${service.name}`,
      );
      if (methods === undefined) return [];
      service.method = service.method.filter((method) => methods.has(method.name));
      return [service];
    });
    return proto;
  }

  /** The file that declares `symbol`: a type, an exposed service or public method, a field. */
  function fileOfSymbol(symbol: string): string | undefined {
    const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
    const desc = registry.get(name);
    if (desc !== undefined) {
      if (desc.kind === "service") return exposed.has(name) ? desc.file.proto.name : undefined;
      if (desc.kind === "message" || desc.kind === "enum")
        return kept.has(outermost(desc).typeName) ? desc.file.proto.name : undefined;
      return desc.file.proto.name;
    }
    const dot = name.lastIndexOf(".");
    const parent = dot < 0 ? undefined : registry.get(name.slice(0, dot));
    const member = name.slice(dot + 1);
    if (parent?.kind === "service")
      return exposed.get(parent.typeName)?.has(member) ? parent.file.proto.name : undefined;
    if (parent?.kind === "message" && kept.has(outermost(parent).typeName))
      return parent.fields.some((f) => f.name === member) || parent.oneofs.some((o) => o.name === member)
        ? parent.file.proto.name
        : undefined;
    return undefined;
  }

  /** The file first (always), then every import not yet sent on this stream, breadth first. */
  function withDependencies(name: string, sent: Set<string>): ReflectionAnswer {
    const out: Uint8Array[] = [];
    const visited = new Set<string>();
    const pending = [name];
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      if (visited.has(next)) continue;
      visited.add(next);
      if (out.length === 0 || !sent.has(next)) {
        out.push(bytes.get(next) as Uint8Array);
        sent.add(next);
      }
      pending.push(...(files.get(next)?.dependencies ?? []).map((dep) => dep.proto.name));
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }

  const notFound = (message: string): ReflectionAnswer => ({
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: message },
  });

  return {
    services: [...exposed.keys()],
    answer(question, sent) {
      switch (question.case) {
        case "listServices":
          return {
            case: "listServicesResponse",
            value: { service: [...exposed.keys()].map((name) => ({ name })) },
          };
        case "fileByFilename":
          return files.has(question.value)
            ? withDependencies(question.value, sent)
            : notFound(`file not found: ${question.value}`);
        case "fileContainingSymbol": {
          const file = fileOfSymbol(question.value);
          return file === undefined
            ? notFound(`symbol not found: ${question.value}`)
            : withDependencies(file, sent);
        }
        case "fileContainingExtension": {
          const { containingType, extensionNumber } = question.value;
          const extendee = registry.getMessage(containingType);
          const extension = extendee && registry.getExtensionFor(extendee, extensionNumber);
          return extension === undefined
            ? notFound(`extension not found: ${containingType} ${extensionNumber}`)
            : withDependencies(extension.file.proto.name, sent);
        }
        case "allExtensionNumbersOfType": {
          const type = registry.getMessage(question.value);
          return type === undefined || !kept.has(outermost(type).typeName)
            ? notFound(`type not found: ${question.value}`)
            : {
                case: "allExtensionNumbersResponse",
                value: {
                  baseTypeName: question.value,
                  extensionNumber: (extensionsOf.get(question.value) ?? []).map((ext) => ext.number),
                },
              };
        }
        case undefined:
          throw new ConnectError("the reflection request names no question", Code.InvalidArgument);
      }
    },
  };
}

/** The top-level message or enum that declares `desc` (itself, when it is one). */
function outermost(desc: DescMessage | DescEnum): DescMessage | DescEnum {
  let top: DescMessage | DescEnum = desc;
  while (top.parent !== undefined) top = top.parent;
  return top;
}

/**
 * The full names of the top-level messages and enums to serve: those the public methods' inputs
 * and outputs reach, and those the files' extensions need (the option types and what they
 * extend: `google.api.http`, `buf.validate` rules, `troupe.v1.method`), each with everything its
 * fields reach. A type is kept whole, with its nested types, so what is served always links.
 */
function reachableTypes(methods: readonly DescMethod[], files: readonly DescFile[]): Set<string> {
  const kept = new Set<string>();
  const queue: DescMessage[] = [];
  const reach = (desc: DescMessage | DescEnum | undefined) => {
    if (desc === undefined) return;
    const top = outermost(desc);
    if (kept.has(top.typeName)) return;
    kept.add(top.typeName);
    if (top.kind === "message") queue.push(top);
  };
  const reachExtension = (ext: DescExtension) => {
    reach(ext.extendee);
    reach(ext.message ?? ext.enum);
  };
  for (const method of methods) {
    reach(method.input);
    reach(method.output);
  }
  for (const file of files) file.extensions.forEach(reachExtension);
  for (let message = queue.pop(); message !== undefined; message = queue.pop()) {
    const inside = [message];
    for (let m = inside.pop(); m !== undefined; m = inside.pop()) {
      for (const field of m.fields) reach(field.message ?? field.enum);
      m.nestedExtensions.forEach(reachExtension);
      inside.push(...m.nestedMessages);
    }
  }
  return kept;
}

/** The request paths of the two reflection methods. */
export const REFLECTION_PATHS: readonly string[] = [v1.ServerReflection, v1alpha.ServerReflection].map(
  (service) => `/${service.typeName}/${service.method.serverReflectionInfo.name}`,
);

/** Registers `grpc.reflection.v1.ServerReflection` and `v1alpha` for the public services. */
export function reflectionRoutes(services: readonly DescService[]): (router: ConnectRouter) => void {
  const reflector = createReflector(services);
  return (router) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const req of requests) {
          yield create(v1.ServerReflectionResponseSchema, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: reflector.answer(req.messageRequest, sent),
          });
        }
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const req of requests) {
          yield create(v1alpha.ServerReflectionResponseSchema, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: reflector.answer(req.messageRequest, sent),
          });
        }
      },
    });
  };
}
