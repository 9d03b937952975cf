/**
 * The project's configuration: `troupe.json` at the project root, read by `troupe dev` and
 * nothing else (docs/adr/0016-project-configuration.md, docs/guide/development.md). Every key is
 * optional and a project without the file gets the defaults below:
 *
 *     {
 *       "actors": "actors",
 *       "contracts": "proto/gen",
 *       "gateway": { "actor": "gateway", "jwtAudience": "<package.json name>" },
 *       "services": {
 *         "mail": {
 *           "command": ["bun", "run", "scripts/dev-mail-sink.ts", "--port", "{port}"],
 *           "port": 2525,
 *           "env": { "SMTP_URL": "smtp://127.0.0.1:{port}" },
 *           "ready": "listening"
 *         }
 *       }
 *     }
 *
 * A wrong type, an unknown key or a bad value throws a ProjectConfigError naming the file and
 * the key. Validated by hand: the file has a dozen keys, and a schema library would be the
 * CLI's one dependency for them.
 */
import { baseName, joinPath, readTextFile } from "../platform/files.ts";

/** What `troupe dev` runs, from `troupe.json`. Paths are relative to the project root. */
export interface ProjectConfig {
  /** The folder of actors: every `<actors>/<name>/main.ts` is one process, the actor `<name>`. */
  readonly actors: string;
  /**
   * The folder of generated contracts (protoc-gen-es `*_pb.ts` or `*_pb.js`, at any depth). The
   * gateway fronts its services that have a public method; the printed examples come from it.
   */
  readonly contracts: string;
  readonly gateway: GatewayConfig;
  /** Extra local processes the actors need (a mail sink, a database), by name, in start order. */
  readonly services: Readonly<Record<string, ServiceConfig>>;
}

export interface GatewayConfig {
  /**
   * The folder of `<actors>` that holds the gateway (`runGateway()`): started last, once what
   * it fronts is discoverable. No such folder, no gateway.
   */
  readonly actor: string;
  /** The `aud` of the development token and the gateway's GATEWAY_JWT_AUDIENCE. */
  readonly jwtAudience: string;
}

/** One extra process. `{port}` and `{dataDir}` in `command` and `env` are replaced when it starts. */
export interface ServiceConfig {
  /** The program and its arguments; a program the project has in node_modules/.bin is taken from there. */
  readonly command: readonly string[];
  /** The port it should listen on (`{port}`), a free one when taken; 0: always a free one. */
  readonly port: number | undefined;
  /** Environment variables given to every actor (and to the service itself). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Ready once this text appears in its output. Without it, ready once `port` accepts TCP
   * connections; with neither, ready once started.
   */
  readonly ready: string | undefined;
}

export const PROJECT_CONFIG_FILE = "troupe.json";

/** The placeholders of `command` and `env`: the chosen port, and troupe dev's data folder. */
export const SERVICE_PLACEHOLDERS = { port: "{port}", dataDir: "{dataDir}" } as const;

/** The defaults; `gateway.jwtAudience` is the project's name (see readProjectConfig). */
export const defaultProjectConfig: Omit<ProjectConfig, "gateway"> & {
  readonly gateway: Omit<GatewayConfig, "jwtAudience">;
} = {
  actors: "actors",
  contracts: "proto/gen",
  gateway: { actor: "gateway" },
  services: {},
};

/** A `troupe.json` that cannot be used; the message names the file and the key. */
export class ProjectConfigError extends Error {
  override name = "ProjectConfigError";
}

/**
 * `<root>/troupe.json` resolved, or the defaults when there is none. The project's name (the
 * default JWT audience) is package.json's `name`, else the folder's name.
 */
export function readProjectConfig(root: string): ProjectConfig {
  const file = joinPath(root, PROJECT_CONFIG_FILE);
  const text = readTextFile(file);
  let json: unknown = {};
  if (text !== undefined) {
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ProjectConfigError(`${file} is not valid JSON: ${(err as Error).message}`);
    }
  }
  return resolveProjectConfig(json, { file, projectName: projectName(root) });
}

/** The one resolver: checks the parsed JSON of `file` and fills in the defaults. */
export function resolveProjectConfig(
  json: unknown,
  context: { readonly file: string; readonly projectName: string },
): ProjectConfig {
  const fail = (key: string, why: string): never => {
    throw new ProjectConfigError(`${context.file}: ${key === "" ? "" : `${key} `}${why}`);
  };
  const top = record(json, "", fail);
  // "$schema" lets an editor validate the file; it is no setting.
  keysOf(top, "", ["$schema", "actors", "contracts", "gateway", "services"], fail);
  const gateway = record(top.gateway ?? {}, "gateway", fail);
  keysOf(gateway, "gateway", ["actor", "jwtAudience"], fail);
  const services = record(top.services ?? {}, "services", fail);
  const resolved: Record<string, ServiceConfig> = {};
  const envOwners = new Map<string, string>();
  for (const [name, value] of Object.entries(services)) {
    const key = `services.${name}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
      fail(key, "is not a usable name (letters, digits, - and _)");
    }
    // troupe dev's own lines are prefixed with these.
    if (name === "troupe" || name === "nats") fail(key, "is a name troupe dev uses for its own lines");
    const service = resolveService(value, key, fail);
    for (const variable of Object.keys(service.env)) {
      const owner = envOwners.get(variable);
      if (owner !== undefined) fail(`${key}.env.${variable}`, `is also set by ${owner}`);
      envOwners.set(variable, key);
    }
    resolved[name] = service;
  }
  return {
    actors: nonEmpty(top.actors, "actors", defaultProjectConfig.actors, fail),
    contracts: nonEmpty(top.contracts, "contracts", defaultProjectConfig.contracts, fail),
    gateway: {
      actor: nonEmpty(gateway.actor, "gateway.actor", defaultProjectConfig.gateway.actor, fail),
      jwtAudience: nonEmpty(gateway.jwtAudience, "gateway.jwtAudience", context.projectName, fail),
    },
    services: resolved,
  };
}

/** Replaces `{port}` and `{dataDir}` in one value of a service's `command` or `env`. */
export function fillPlaceholders(value: string, port: number | undefined, dataDir: string): string {
  return value
    .replaceAll(SERVICE_PLACEHOLDERS.port, port === undefined ? SERVICE_PLACEHOLDERS.port : String(port))
    .replaceAll(SERVICE_PLACEHOLDERS.dataDir, dataDir);
}

type Fail = (key: string, why: string) => never;

function resolveService(value: unknown, key: string, fail: Fail): ServiceConfig {
  const service = record(value, key, fail);
  keysOf(service, key, ["command", "port", "env", "ready"], fail);
  const command = service.command;
  if (
    !Array.isArray(command) ||
    command.length === 0 ||
    !command.every((part) => typeof part === "string" && part !== "")
  ) {
    fail(`${key}.command`, `must be a list of non-empty strings, the program first, got ${show(command)}`);
  }
  let port: number | undefined;
  if (service.port !== undefined) {
    const p = service.port;
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65_535) {
      fail(`${key}.port`, `must be a port number (0..65535), got ${show(p)}`);
    }
    port = p as number;
  }
  const env: Record<string, string> = {};
  for (const [name, v] of Object.entries(record(service.env ?? {}, `${key}.env`, fail))) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`${key}.env.${name}`, "is not a variable name");
    if (typeof v !== "string") fail(`${key}.env.${name}`, `must be a string, got ${show(v)}`);
    env[name] = v as string;
  }
  const ready =
    service.ready === undefined ? undefined : nonEmpty(service.ready, `${key}.ready`, undefined, fail);
  const usesPort = [...(command as string[]), ...Object.values(env)].some((v) =>
    v.includes(SERVICE_PLACEHOLDERS.port),
  );
  if (usesPort && port === undefined) {
    fail(key, `uses ${SERVICE_PLACEHOLDERS.port} but sets no "port" (0 for any free one)`);
  }
  return { command: command as string[], port, env, ready };
}

function record(value: unknown, key: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(key, `must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

function keysOf(value: Record<string, unknown>, key: string, known: readonly string[], fail: Fail): void {
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      const where = key === "" ? name : `${key}.${name}`;
      fail(where, `is not a known key (known${key === "" ? "" : ` in ${key}`}: ${known.join(", ")})`);
    }
  }
}

function nonEmpty<T extends string | undefined>(
  value: unknown,
  key: string,
  fallback: T,
  fail: Fail,
): string | T {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || value.trim() === "") {
    return fail(key, `must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

function show(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

function projectName(root: string): string {
  const text = readTextFile(joinPath(root, "package.json"));
  if (text !== undefined) {
    try {
      const name = (JSON.parse(text) as { name?: unknown }).name;
      if (typeof name === "string" && name !== "") return name;
    } catch {
      // An unreadable package.json is npm's business; the folder name still names the project.
    }
  }
  return baseName(root);
}
