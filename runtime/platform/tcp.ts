/**
 * Plain TCP byte streams for direct calls (docs/adr/0031-direct-calls-by-address.md): Bun's own
 * sockets on Bun (tcp-bun.ts; its `node:net` costs a third of a busy server's CPU in writes),
 * `node:net` on Deno and Node; with TLS, `node:tls` on all three. The rest of the runtime sees
 * only this interface: bytes in, bytes out, one close.
 */
import { connect, createServer, isIP, type Server, type Socket } from "node:net";
import { setImmediate } from "node:timers";
import { connect as connectTls, createServer as createTlsServer } from "node:tls";
import { bunConnectTcp, bunListenTcp, isBun } from "./tcp-bun.ts";

export interface ByteStream {
  /**
   * Queues bytes for the peer; false once the stream is closed. What is queued in one turn of
   * the event loop goes out in one socket write, right after the loop's I/O phase.
   */
  write(bytes: Uint8Array): boolean;
  /** Ends the stream after what was written; `onClose` follows. */
  end(): void;
  /** Closes the stream at once. */
  destroy(): void;
  /** "host:port" of the peer. */
  readonly peer: string;
}

/** A listener's certificate and key (PEM). */
export interface TlsIdentity {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What a TLS client trusts (PEM of the CA that signs the listener's certificate). */
export interface TlsTrust {
  readonly caPem: string;
}

export interface ByteStreamHandlers {
  onData(chunk: Uint8Array): void;
  /** Once, whatever closed the stream; `error` when a failure did. */
  onClose(error: Error | undefined): void;
}

function wrap(socket: Socket, handlers: ByteStreamHandlers): ByteStream {
  let closed = false;
  let failure: Error | undefined;
  let queued: Uint8Array[] = [];
  const flush = () => {
    const chunks = queued;
    queued = [];
    if (closed || socket.destroyed) return;
    // One writev of every chunk, no copy into a joined buffer.
    socket.cork();
    for (const chunk of chunks) socket.write(chunk);
    socket.uncork();
  };
  socket.setNoDelay(true);
  socket.on("data", (chunk: Uint8Array) => handlers.onData(chunk));
  socket.on("error", (error) => {
    failure ??= error;
  });
  socket.on("close", () => {
    closed = true;
    handlers.onClose(failure);
  });
  return {
    peer: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`,
    write(bytes) {
      if (closed || socket.destroyed) return false;
      if (queued.push(bytes) === 1) setImmediate(flush);
      return true;
    },
    end() {
      if (queued.length > 0) flush();
      socket.end();
    },
    destroy() {
      socket.destroy();
    },
  };
}

/** Connects to `host:port`; rejects when the connection is refused or takes over `timeoutMs`. */
export function connectTcp(
  host: string,
  port: number,
  timeoutMs: number,
  handlers: (stream: ByteStream) => ByteStreamHandlers,
  tls?: TlsTrust,
): Promise<ByteStream> {
  if (isBun() && tls === undefined) return bunConnectTcp(host, port, timeoutMs, handlers);
  return new Promise((resolve, reject) => {
    // The certificate must name the host as it was dialled (an IP address: an IP SAN).
    const socket =
      tls === undefined
        ? connect({ host, port })
        : connectTls({ host, port, ca: tls.caPem, servername: isIP(host) === 0 ? host : "" });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const failed = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once("error", failed);
    socket.once(tls === undefined ? "connect" : "secureConnect", () => {
      clearTimeout(timer);
      socket.off("error", failed);
      const delegate: ByteStreamHandlers = {
        onData: (chunk) => own.onData(chunk),
        onClose: (error) => own.onClose(error),
      };
      const stream = wrap(socket, delegate);
      const own = handlers(stream);
      resolve(stream);
    });
  });
}

export interface TcpListener {
  /** The port it listens on (the OS's choice when asked for 0). */
  readonly port: number;
  readonly host: string;
  /** Stops accepting connections; open ones are the caller's to end. */
  close(): Promise<void>;
}

/** Listens on `host:port` (0: any free port) and hands every accepted connection to `accept`. */
export function listenTcp(
  host: string,
  port: number,
  accept: (stream: ByteStream) => ByteStreamHandlers,
  tls?: TlsIdentity,
): Promise<TcpListener> {
  if (isBun() && tls === undefined) return bunListenTcp(host, port, accept);
  return new Promise((resolve, reject) => {
    const onSocket = (socket: Socket) => {
      const delegate: ByteStreamHandlers = {
        onData: (chunk) => own.onData(chunk),
        onClose: (error) => own.onClose(error),
      };
      const stream = wrap(socket, delegate);
      const own = accept(stream);
    };
    const server: Server =
      tls === undefined
        ? createServer(onSocket)
        : createTlsServer({ cert: tls.certPem, key: tls.keyPem }, onSocket);
    if (tls !== undefined) server.on("tlsClientError", () => {}); // a failed handshake ends that socket only
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : port;
      resolve({
        port: bound,
        host,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
