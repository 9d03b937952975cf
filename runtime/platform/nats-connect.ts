/**
 * Opening a NATS connection. `@nats-io/transport-node` runs on Node, Bun and Deno (through its
 * node:net and node:tls compatibility); everything else in the runtime takes the resulting
 * NatsConnection.
 *
 * A TLS connection that the server refuses gets a prompt, clear error instead of the connect
 * timeout (20 s) that nats.js 3.4 waits out otherwise (docs/adr/0028-tls-on-every-hop.md):
 *
 * - A server that demands client certificates (mutual TLS) says so in its INFO (`tls_verify`);
 *   a client without one is refused here, before the handshake, with a message that says so.
 * - A server that refuses the client's certificate does so after the handshake (TLS 1.3 lets the
 *   client finish first) by closing the socket. nats.js answers that close by entering its
 *   reconnect loop, which is still running for the first connection, so nothing rejects the first
 *   PONG. With `reconnect: false` it closes the connection with the socket's error; the option is
 *   switched back on once connected (nats.js reads it only when a connection is lost).
 * - The server's certificate is checked against the host dialled, an IP address too (below).
 * - The transport keeps an error listener on a socket it has discarded: Deno reports the TLS
 *   alert after the close, and an unheard error there would be an uncaught exception.
 *
 * tests/portable/nats-tls.test.ts holds each of these on every runtime.
 */
import type { ConnectionOptions, NatsConnection, ServerInfo } from "@nats-io/nats-core";
import { errors, NatsConnectionImpl, setTransportFactory } from "@nats-io/nats-core/internal";
import type { NodeConnectionOptions } from "@nats-io/transport-node";
import { NodeTransport, nodeResolveHost } from "@nats-io/transport-node/lib/node_transport.js";

class CheckedTransport extends NodeTransport {
  /**
   * Verifies the server against the host dialled. nats.js leaves the TLS server name empty for an
   * IP address (SNI carries no IPs), and Node and Deno then check the certificate against
   * "localhost"; given the host, they check the certificate's IP addresses, as Bun does.
   */
  override connect(hp: { hostname: string; port: number; tlsName: string }, options: NodeConnectionOptions) {
    const tls = options.tls;
    return super.connect(
      hp,
      tls == null ? options : { ...options, tls: { ...tls, host: hp.hostname } as typeof tls },
    );
  }

  override async peekInfo(): Promise<ServerInfo> {
    const info = await super.peekInfo();
    const tls = this.options.tls;
    const hasCertificate = tls != null && (tls.cert !== undefined || tls.certFile !== undefined);
    if (info.tls_verify === true && !hasCertificate) {
      throw new errors.ConnectionError(
        "the server demands a client certificate (mutual TLS) and none was given",
      );
    }
    return info;
  }

  override discard(): void {
    super.discard();
    this.socket?.on("error", () => {});
  }
}

/** `connect` of @nats-io/transport-node (the same options), with the TLS refusals above made prompt. */
export async function connect(options: NodeConnectionOptions = {}): Promise<NatsConnection> {
  if (options.servers !== undefined && [options.servers].flat().some((s) => /^wss?:\/\//i.test(s))) {
    throw errors.InvalidArgumentError.format("servers", "websocket servers are not supported here");
  }
  setTransportFactory({ factory: () => new CheckedTransport(), dnsResolveFn: nodeResolveHost });
  const opts = options as ConnectionOptions;
  if (opts.tls == null || opts.reconnect === false || opts.waitOnFirstConnect === true) {
    return NatsConnectionImpl.connect(opts);
  }
  const nc = await NatsConnectionImpl.connect({ ...opts, reconnect: false });
  (nc as NatsConnectionImpl).options.reconnect = true;
  return nc;
}
