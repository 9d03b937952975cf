/**
 * tcp.ts on Bun: `Bun.listen` and `Bun.connect`, Bun's own sockets. Same contract as the
 * `node:net` streams: what one event-loop turn queues goes out in one write, right after the I/O
 * phase; what the kernel does not take at once waits for `drain`, in order.
 */
import { setImmediate } from "node:timers";
import type { ByteStream, ByteStreamHandlers, TcpListener } from "./tcp.ts";

/**
 * The part of Bun's socket API used here, typed locally so the file type-checks on Deno and Node
 * too (where it is never called).
 */
interface BunSocket {
  data: BunStream;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  setNoDelay(noDelay?: boolean): boolean;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
}

interface BunSocketHandlers {
  open(socket: BunSocket): void;
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
  close(socket: BunSocket, error?: Error): void;
}

interface BunNet {
  connect(options: { hostname: string; port: number; socket: BunSocketHandlers }): Promise<BunSocket>;
  listen(options: { hostname: string; port: number; socket: BunSocketHandlers }): {
    readonly port: number;
    stop(closeActiveConnections?: boolean): void;
  };
}

function bun(): BunNet {
  return (globalThis as unknown as { Bun: BunNet }).Bun;
}

export function isBun(): boolean {
  return typeof (globalThis as { Bun?: unknown }).Bun === "object";
}

/** A Bun socket as a ByteStream, with its handlers and its writes waiting for the kernel. */
class BunStream implements ByteStream {
  readonly peer: string;
  failure: Error | undefined;
  closed = false;
  #handlers: ByteStreamHandlers | undefined;
  /** What arrived before the handlers were attached. */
  #early: Uint8Array[] = [];
  readonly #socket: BunSocket;
  #queued: Uint8Array[] = [];
  #queuedBytes = 0;
  /** Bytes the kernel has not taken yet, written again on `drain`. */
  #backlog: Uint8Array | undefined;
  #ending = false;

  constructor(socket: BunSocket) {
    this.#socket = socket;
    this.peer = `${socket.remoteAddress}:${socket.remotePort ?? "?"}`;
    socket.setNoDelay(true);
  }

  attach(handlers: ByteStreamHandlers): void {
    this.#handlers = handlers;
    for (const chunk of this.#early.splice(0)) handlers.onData(chunk);
  }

  received(chunk: Uint8Array): void {
    if (this.#handlers === undefined) this.#early.push(chunk);
    else this.#handlers.onData(chunk);
  }

  ended(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.#handlers?.onClose(error ?? this.failure);
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.#queued.push(bytes) === 1) setImmediate(() => this.#flush());
    this.#queuedBytes += bytes.length;
    return true;
  }

  end(): void {
    this.#ending = true;
    this.#flush();
    if (this.#backlog === undefined) this.#socket.end();
  }

  destroy(): void {
    this.#socket.terminate();
  }

  drained(): void {
    const backlog = this.#backlog;
    this.#backlog = undefined;
    if (backlog !== undefined) this.#send(backlog);
    if (this.#backlog === undefined && this.#ending) this.#socket.end();
  }

  #flush(): void {
    const chunks = this.#queued;
    if (chunks.length === 0 || this.closed) return;
    this.#queued = [];
    let bytes: Uint8Array;
    if (chunks.length === 1) {
      bytes = chunks[0] as Uint8Array;
    } else {
      bytes = new Uint8Array(this.#queuedBytes);
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
    }
    this.#queuedBytes = 0;
    if (this.#backlog !== undefined) {
      const joined = new Uint8Array(this.#backlog.length + bytes.length);
      joined.set(this.#backlog);
      joined.set(bytes, this.#backlog.length);
      this.#backlog = joined;
      return;
    }
    this.#send(bytes);
  }

  #send(bytes: Uint8Array): void {
    const written = this.#socket.write(bytes);
    if (written < bytes.length) this.#backlog = bytes.subarray(Math.max(0, written));
  }
}

const socketHandlers = {
  data(socket: BunSocket, data: Uint8Array) {
    socket.data.received(data);
  },
  drain(socket: BunSocket) {
    socket.data.drained();
  },
  error(socket: BunSocket, error: Error) {
    socket.data.failure ??= error;
  },
  close(socket: BunSocket, error?: Error) {
    socket.data.ended(error);
  },
};

export async function bunConnectTcp(
  host: string,
  port: number,
  timeoutMs: number,
  handlers: (stream: ByteStream) => ByteStreamHandlers,
): Promise<ByteStream> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no TCP connection to ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  let stream: BunStream | undefined;
  try {
    const socket = await Promise.race([
      bun().connect({
        hostname: host,
        port,
        socket: {
          ...socketHandlers,
          open(socket) {
            stream = new BunStream(socket);
            socket.data = stream;
          },
        },
      }),
      timedOut,
    ]);
    const opened = stream ?? socket.data;
    opened.attach(handlers(opened));
    return opened;
  } finally {
    clearTimeout(timer);
  }
}

export async function bunListenTcp(
  host: string,
  port: number,
  accept: (stream: ByteStream) => ByteStreamHandlers,
): Promise<TcpListener> {
  const server = bun().listen({
    hostname: host,
    port,
    socket: {
      ...socketHandlers,
      open(socket) {
        const stream = new BunStream(socket);
        socket.data = stream;
        stream.attach(accept(stream));
      },
    },
  });
  return {
    port: server.port,
    host,
    close: async () => server.stop(false),
  };
}
