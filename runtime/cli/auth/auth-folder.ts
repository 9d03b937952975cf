/**
 * A folder of NATS credentials for a Troupe system (`troupe auth generate`, and `troupe dev` in
 * `<data dir>/auth`; docs/guide/security.md):
 *
 *   keys.json          the operator's and accounts' nkey seeds (0600): keep them secret; whoever
 *                      holds them can issue users
 *   nats-auth.conf     the server's part: operator, system account, memory resolver with both
 *                      account JWTs (`include` it in the nats-server configuration)
 *   <name>.creds       one user per process (0600), with the permissions its declaration derives
 *   <name>.json        those permissions, readable, for review
 *   cli.creds          the operator's own user: everything in the account (CLI, dashboard, tests)
 *
 * Run again, it keeps the keys and the server's part (a running server needs no change) and
 * reissues every user with its declaration's permissions, on the user's own key (`rotateUsers`:
 * new keys, the rotation of users). New account keys (`rotateKeys`) change the server's part,
 * which the server takes on a reload.
 */
import { joinPath, makeDir, readTextFile, writeFileAtomically } from "../../platform/files.ts";
import type { ProcessDeclaration } from "../../protocol/declaration.ts";
import {
  type AuthKeys,
  createAuthKeys,
  issueUser,
  publicKeyOf,
  seedOfCreds,
  serverAuth,
} from "../../security/credentials.ts";
import { permissionsOf } from "../../security/permissions.ts";

export const KEYS_FILE = "keys.json";
export const SERVER_AUTH_FILE = "nats-auth.conf";
/** The operator's own user: the CLI, the dashboard, `troupe dev` itself. */
export const ADMIN_USER = "cli";

export interface AuthFolder {
  readonly dir: string;
  /** The server configuration to include. */
  readonly serverConfigFile: string;
  /** The creds file of each process, by name, and of the operator's user (`cli`). */
  readonly creds: ReadonlyMap<string, string>;
  /** The public key (`U…`) of each process's user: the gateway's is TROUPE_GATEWAY_KEY of the actors. */
  readonly publicKeys: ReadonlyMap<string, string>;
  /** True when the keys were created (or rotated) by this call. */
  readonly newKeys: boolean;
}

export interface AuthFolderOptions {
  readonly namespace: string;
  /** New operator and account keys even when the folder has some. */
  readonly rotateKeys: boolean;
  /** Users expire this long after they are issued; undefined: never. */
  readonly userExpiresInMs: number | undefined;
  /**
   * New nkeys for the users. Otherwise a user reissued keeps its key (its new JWT carries the
   * new permissions), so revocations and TROUPE_GATEWAY_KEY stay valid.
   */
  readonly rotateUsers: boolean;
}

export const defaultAuthFolderOptions: AuthFolderOptions = {
  namespace: "",
  rotateKeys: false,
  userExpiresInMs: undefined,
  rotateUsers: false,
};

const SECRET = 0o600;

/** Writes (or refreshes) the credentials of `declarations` in `dir`. */
export async function writeAuthFolder(
  dir: string,
  declarations: readonly ProcessDeclaration[],
  partial: Partial<AuthFolderOptions> = {},
): Promise<AuthFolder> {
  const options = { ...defaultAuthFolderOptions, ...partial };
  makeDir(dir);
  const keysPath = joinPath(dir, KEYS_FILE);
  const serverConfigFile = joinPath(dir, SERVER_AUTH_FILE);
  const existing = options.rotateKeys ? undefined : readKeys(keysPath);
  const keys = existing ?? createAuthKeys();
  if (existing === undefined) writeFileAtomically(keysPath, `${JSON.stringify(keys, null, 2)}\n`, SECRET);
  const configured = readTextFile(serverConfigFile);
  if (existing === undefined || configured === undefined || !configured.includes(publicKeyOf(keys.account))) {
    writeFileAtomically(serverConfigFile, (await serverAuth(keys)).config, SECRET);
  }

  const creds = new Map<string, string>();
  const publicKeys = new Map<string, string>();
  // A user's earlier key, unless the account's keys or the users' are new.
  const reused = (name: string): string | undefined => {
    if (existing === undefined || options.rotateUsers) return undefined;
    const earlier = readTextFile(joinPath(dir, `${name}.creds`));
    return earlier === undefined ? undefined : seedOfCreds(earlier);
  };
  const names = new Set<string>();
  for (const declaration of declarations) {
    if (declaration.name === ADMIN_USER || names.has(declaration.name)) {
      throw new Error(`two processes, or a process and the operator's user, are named '${declaration.name}'`);
    }
    names.add(declaration.name);
    const permissions = permissionsOf(declaration, options.namespace);
    const user = await issueUser(keys, declaration.name, {
      permissions,
      expiresInMs: options.userExpiresInMs,
      seed: reused(declaration.name),
    });
    creds.set(declaration.name, writeUser(dir, declaration.name, user.creds));
    publicKeys.set(declaration.name, user.publicKey);
    writeFileAtomically(
      joinPath(dir, `${declaration.name}.json`),
      `${JSON.stringify({ user: user.publicKey, declaration, permissions }, null, 2)}\n`,
    );
  }
  const admin = await issueUser(keys, ADMIN_USER, {
    expiresInMs: options.userExpiresInMs,
    seed: reused(ADMIN_USER),
  });
  creds.set(ADMIN_USER, writeUser(dir, ADMIN_USER, admin.creds));
  return { dir, serverConfigFile, creds, publicKeys, newKeys: existing === undefined };
}

function writeUser(dir: string, name: string, creds: string): string {
  const path = joinPath(dir, `${name}.creds`);
  writeFileAtomically(path, creds, SECRET);
  return path;
}

function readKeys(path: string): AuthKeys | undefined {
  const text = readTextFile(path);
  if (text === undefined) return undefined;
  let keys: Partial<Record<keyof AuthKeys, unknown>>;
  try {
    keys = JSON.parse(text) as typeof keys;
  } catch {
    throw new Error(`${path} is not JSON: move it away to start with new keys`);
  }
  const seed = (value: unknown, prefix: string) => typeof value === "string" && value.startsWith(prefix);
  if (
    !seed(keys.operator, "SO") ||
    !seed(keys.systemAccount, "SA") ||
    !seed(keys.account, "SA") ||
    !seed(keys.accountSigning, "SA")
  ) {
    throw new Error(
      `${path} does not hold the four seeds (operator, systemAccount, account, accountSigning)`,
    );
  }
  return keys as unknown as AuthKeys;
}
