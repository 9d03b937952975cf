/**
 * Plain TCP byte streams for direct calls (docs/adr/0031-direct-calls-by-address.md): Bun's own
 * sockets on Bun (tcp-bun.ts; its `node:net` costs a third of a busy server's CPU in writes),
 * `node:net` on Deno and Node. The rest of the runtime sees only this interface: bytes in, bytes
 * out, one close.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { setImmediate } from "node:timers";
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

export interface ByteStreamHandlers {
  onData(chunk: Uint8Array): void;
  /** Once, whatever closed the stream; `error` when a failure did. */
  onClose(error: Error | undefined): void;
}

function wrap(socket: Socket, handlers: ByteStreamHandlers): ByteStream {
  let closed = false;
  let failure: Error | undefined;
  let queued: Uint8Array[] = [];
  let queuedBytes = 0;
  const flush = () => {
    const chunks = queued;
    queued = [];
    const size = queuedBytes;
    queuedBytes = 0;
    if (closed || socket.destroyed) return;
    if (chunks.length === 1) {
      socket.write(chunks[0] as Uint8Array);
      return;
    }
    const joined = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      joined.set(chunk, at);
      at += chunk.length;
    }
    socket.write(joined);
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
      queuedBytes += bytes.length;
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
): Promise<ByteStream> {
  if (isBun()) return bunConnectTcp(host, port, timeoutMs, handlers);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
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
    socket.once("connect", () => {
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
): Promise<TcpListener> {
  if (isBun()) return bunListenTcp(host, port, accept);
  return new Promise((resolve, reject) => {
    const server: Server = createServer((socket) => {
      const delegate: ByteStreamHandlers = {
        onData: (chunk) => own.onData(chunk),
        onClose: (error) => own.onClose(error),
      };
      const stream = wrap(socket, delegate);
      const own = accept(stream);
    });
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
