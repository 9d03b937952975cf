/**
 * A disposable nats-server with Troupe's authentication on (docs/adr/0030-credentials-from-declarations.md):
 * fresh operator and account keys, and a connection per process with exactly the permissions its
 * declaration derives, so that a test exercises the production permissions:
 *
 *   const secured = await startSecuredNatsServer();
 *   const nc = await secured.connectAs(declarationOf(myActor));
 *   await serveActor(nc, myActor);
 */

import type { NatsConnection } from "@nats-io/nats-core";
import { credsAuthenticator } from "@nats-io/nats-core";
import { connect } from "../platform/nats-connect.ts";
import type { ProcessDeclaration } from "../protocol/declaration.ts";
import { privateInboxPrefix } from "../protocol/subjects.ts";
import { type AuthKeys, createAuthKeys, issueUser, serverAuth } from "../security/credentials.ts";
import { rememberCredentials } from "../security/direct-auth.ts";
import { permissionsOf } from "../security/permissions.ts";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats-server.ts";

export interface SecuredNatsServer extends AsyncDisposable {
  readonly server: NatsServer;
  readonly keys: AuthKeys;
  /** The creds file text of a process as it declares itself (in `namespace`). */
  credsFor(declaration: ProcessDeclaration, namespace?: string): Promise<string>;
  /**
   * A connection as the process `declaration` declares (its private inbox prefix included), or
   * as the operator's own user (`"admin"`: everything in the account).
   */
  connectAs(who: ProcessDeclaration | "admin", namespace?: string): Promise<NatsConnection>;
  /** Closes every connection it opened and disposes of the server. */
  dispose(): Promise<void>;
}

export async function startSecuredNatsServer(
  partial: Partial<NatsServerOptions> = {},
): Promise<SecuredNatsServer> {
  const keys = createAuthKeys();
  const auth = await serverAuth(keys);
  const server = await startNatsServer({ ...partial, config: `${auth.config}\n${partial.config ?? ""}` });
  const connections: NatsConnection[] = [];
  const credsFor = async (declaration: ProcessDeclaration, namespace = "") =>
    (await issueUser(keys, declaration.name, { permissions: permissionsOf(declaration, namespace) })).creds;
  const dispose = async () => {
    await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
    await server.dispose();
  };
  return {
    server,
    keys,
    credsFor,
    async connectAs(who, namespace = "") {
      const creds = who === "admin" ? (await issueUser(keys, "admin")).creds : await credsFor(who, namespace);
      const nc = await connect({
        servers: server.url,
        authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
        ...(who === "admin" ? {} : { inboxPrefix: privateInboxPrefix(who.name, namespace) }),
      });
      // Its calls and listener by address prove the same user (docs/adr/0031-direct-calls-by-address.md).
      rememberCredentials(nc, creds);
      connections.push(nc);
      return nc;
    },
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
