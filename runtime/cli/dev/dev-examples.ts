/**
 * The calls `troupe dev` suggests once the system is up, taken from the project's contracts (the
 * same files the gateway fronts), so that they are right for any project: REST routes from the
 * `google.api.http` annotations of public methods, and one public unary method to call over
 * Connect and over NATS.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { methodExposure, methodPath } from "../../gateway/method-exposure.ts";
import { type RestRoute, restRoutes } from "../../gateway/transcoding/rest-routes.ts";
import { isDir } from "../../platform/files.ts";
import { loadContracts } from "../../process/load-contracts.ts";
import { rpcMethodSubject } from "../../protocol/subjects.ts";

export interface RestExample {
  /** The route's path with every variable as `<name>`: `/v1/products/<id>`. */
  readonly path: string;
  readonly authRequired: boolean;
}

export interface UnaryExample {
  /** `shop.v1.ProductService/ListProducts`: the Connect (and gRPC) path without its slash. */
  readonly path: string;
  /** Its NATS subject: `rpc.shop.v1.ProductService.ListProducts`. */
  readonly subject: string;
  readonly authRequired: boolean;
}

export interface DevExamples {
  /**
   * Public GET routes, at most one of each kind: without path variables (a list, which works
   * as printed), with variables (to fill in), and one that needs the development token.
   */
  readonly rest: readonly RestExample[];
  /** A public unary method, preferably one that needs neither a token nor a request field. */
  readonly unary: UnaryExample | undefined;
}

/**
 * The examples of the contracts in `dir`, or why there are none (missing or unreadable);
 * `shown` is how the message names the folder.
 */
export async function examplesFromContracts(dir: string, shown = dir): Promise<DevExamples | string> {
  if (!isDir(dir)) return `no contracts folder ${shown}`;
  try {
    return devExamples((await loadContracts(dir)).services);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The examples of `services`; throws as restRoutes does for an annotation it cannot serve. */
export function devExamples(services: readonly DescService[]): DevExamples {
  const gets = restRoutes(services).filter((route) => route.public && route.httpMethod === "GET");
  const picks = [
    gets.find((r) => !r.authRequired && r.variables.length === 0),
    gets.find((r) => !r.authRequired && r.variables.length > 0),
    gets.find((r) => r.authRequired),
  ];
  const rest = picks
    .filter((route): route is RestRoute => route !== undefined)
    .map((route) => ({ path: examplePath(route), authRequired: route.authRequired }));

  // A method behind a GET route without variables needs no request field: `{}` works as printed.
  const listLike = new Set<DescMethod>(
    gets.filter((r) => r.variables.length === 0).map((r) => r.method as DescMethod),
  );
  const unaries = services
    .flatMap((service) => service.methods)
    .filter((method) => method.methodKind === "unary" && methodExposure(method).public);
  const rank = (method: DescMethod) =>
    (methodExposure(method).authRequired ? 2 : 0) + (listLike.has(method) ? 0 : 1);
  const best = unaries.reduce<DescMethod | undefined>(
    (chosen, method) => (chosen === undefined || rank(method) < rank(chosen) ? method : chosen),
    undefined,
  );
  return {
    rest,
    unary:
      best === undefined
        ? undefined
        : {
            path: methodPath(best),
            subject: rpcMethodSubject(best),
            authRequired: methodExposure(best).authRequired,
          },
  };
}

/** `/v1/{name=shelves/*}/books` → `/v1/shelves/<name>/books`. */
function examplePath(route: RestRoute): string {
  const { segments, variables, verb } = route.path;
  const parts = segments.map((segment, index) => {
    if (segment.kind === "literal") return segment.value;
    const variable = variables.find((v) => index >= v.start && index < v.end);
    return `<${variable?.name.split(".").pop() ?? "segment"}>`;
  });
  return `/${parts.join("/")}${verb === undefined ? "" : `:${verb}`}`;
}
