/**
 * `troupe auth generate`: NATS credentials for every process of the project, derived from what
 * each declares (docs/adr/0030-credentials-from-declarations.md, docs/guide/security.md).
 */

import { GATEWAY_SERVICE_NAME } from "../../gateway/serve-gateway.ts";
import { currentDir, resolvePath } from "../../platform/files.ts";
import type { ProcessDeclaration } from "../../protocol/declaration.ts";
import { ADMIN_USER, SERVER_AUTH_FILE } from "../auth/auth-folder.ts";
import { generateProjectAuth } from "../auth/project-auth.ts";
import { type CliCommand, parseChoice, parseFlags, UsageError } from "../command.ts";
import type { ActorRuntime } from "../dev/dev-options.ts";
import { readProjectConfig } from "../project-config.ts";
import { formatTable } from "../text-table.ts";

export const authUsage = `Usage: troupe auth generate [options]

Writes NATS credentials for every process of the project in the current folder (troupe.json):
each <actors>/<name>/main.ts runs once with TROUPE_PRINT_DECLARATION=1 and prints what its
defineActor declares (serves, calls, publishes, consumes, state); the gateway prints the public
methods it fronts. Each process gets a user that may do exactly that, signed by the account's
signing key (NATS decentralized auth: operator, account, users):

  <out>/nats-auth.conf   include it in the nats-server configuration (operator, accounts)
  <out>/<name>.creds     the process's user: NATS_CREDS=<out>/<name>.creds
  <out>/<name>.json      its declaration and permissions, for review
  <out>/cli.creds        the operator's own user (troupe CLI, nats CLI, dashboard)
  <out>/keys.json        the operator and account seeds: keep them secret

Run again, it keeps the keys (the server needs no change) and reissues every user with the
permissions of its current declaration, on its own key (--rotate-users: new keys).

Options:
  --out <dir>           where to write (default .troupe/auth)
  --namespace <ns>      the system's namespace (TROUPE_NAMESPACE; default none)
  --runtime <name>      run the main files on bun, deno or node (default bun)
  --expires-days <n>    users expire after n days (default: never; reissue to rotate)
  --rotate-users        new nkeys for every user (revoke the old ones: docs/guide/security.md)
  --rotate-keys         new operator and account keys (the server must load the new nats-auth.conf)
  -h, --help            this help
`;

const FLAGS = {
  out: { type: "string" },
  namespace: { type: "string" },
  runtime: { type: "string" },
  "expires-days": { type: "string" },
  "rotate-keys": { type: "boolean" },
  "rotate-users": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export interface AuthArgs {
  readonly out: string;
  readonly namespace: string;
  readonly runtime: ActorRuntime;
  readonly expiresInMs: number | undefined;
  readonly rotateKeys: boolean;
  readonly rotateUsers: boolean;
}

export function parseAuthArgs(args: readonly string[]): AuthArgs | "help" {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help === true) return "help";
  const [verb, ...extra] = positionals;
  if (verb !== "generate") throw new UsageError(`unknown or missing verb "${verb ?? ""}" (generate)`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(" ")}`);
  const days = values["expires-days"];
  if (days !== undefined && !(/^\d+$/.test(days) && Number(days) > 0)) {
    throw new UsageError(`--expires-days must be a positive whole number, got "${days}"`);
  }
  return {
    out: values.out ?? ".troupe/auth",
    namespace: values.namespace ?? "",
    runtime: parseChoice("runtime", values.runtime, ["bun", "deno", "node"] as const, "bun"),
    expiresInMs: days === undefined ? undefined : Number(days) * 24 * 60 * 60_000,
    rotateKeys: values["rotate-keys"] === true,
    rotateUsers: values["rotate-users"] === true,
  };
}

export const authCommand: CliCommand = {
  name: "auth",
  summary: "write least-privilege NATS credentials for every process, from what each declares",
  usage: authUsage,
  async run(args) {
    const parsed = parseAuthArgs(args);
    if (parsed === "help") {
      console.log(authUsage);
      return 0;
    }
    const root = currentDir();
    const out = resolvePath(root, parsed.out);
    try {
      const generated = await generateProjectAuth(root, readProjectConfig(root), out, {
        runtime: parsed.runtime,
        namespace: parsed.namespace,
        rotateKeys: parsed.rotateKeys,
        rotateUsers: parsed.rotateUsers,
        userExpiresInMs: parsed.expiresInMs,
      });
      const { folder, declarations } = generated;
      const gatewayKey = folder.publicKeys.get(GATEWAY_SERVICE_NAME);
      for (const line of formatTable(
        ["USER", "SERVES", "CALLS", "PUBLISHES", "CONSUMES", "STATE"],
        declarations.map(row),
      ))
        console.log(line);
      console.log(
        [
          "",
          `${folder.newKeys ? "new keys; " : ""}credentials in ${parsed.out}: ${declarations.length} processes and ${ADMIN_USER}`,
          `  server:   include ${parsed.out}/${SERVER_AUTH_FILE} in the nats-server configuration`,
          `  process:  NATS_CREDS=${parsed.out}/<name>.creds`,
          ...(gatewayKey === undefined
            ? []
            : [
                `  actors:   TROUPE_GATEWAY_KEY=${gatewayKey}   (the identities they honour are signed with it)`,
              ]),
          `  you:      NATS_CREDS=${parsed.out}/${ADMIN_USER}.creds troupe ls   (nats --creds ${parsed.out}/${ADMIN_USER}.creds …)`,
        ].join("\n"),
      );
      return 0;
    } catch (err) {
      console.error(`troupe auth: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  },
};

const short = (typeName: string) => typeName.slice(typeName.lastIndexOf(".") + 1);
const list = (names: readonly string[]) => (names.length === 0 ? "-" : names.map(short).join(", "));

function row(d: ProcessDeclaration): string[] {
  return [
    d.name,
    list(d.serves),
    d.callsMethods === undefined ? list(d.calls) : `${d.callsMethods.length} public methods`,
    list([...d.publishes.events, ...d.publishes.jobs]),
    list([...d.consumes.events, ...d.consumes.jobs]),
    d.state.length === 0 ? "-" : d.state.join(", "),
  ];
}
