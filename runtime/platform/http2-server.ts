/**
 * One cleartext port for HTTP/1.1 and HTTP/2 (h2c, prior knowledge) with `node:http`,
 * `node:http2` and `node:net`, on Node, Bun and Deno (docs/adr/0008-gateway.md):
 *
 * - `http2.createServer({ allowHTTP1: true })` only falls back to HTTP/1.1 for TLS (ALPN); on a
 *   cleartext port all three runtimes refuse HTTP/1.1 requests with it (tested). So a
 *   `net.Server` reads the first bytes of each connection: the HTTP/2 connection preface
 *   (`PRI * HTTP/2.0`, RFC 9113 §3.4) goes to an http2 server, anything else to an http1 server.
 * - Handing the bytes back with `socket.unshift()` works for HTTP/1.1 everywhere and for HTTP/2
 *   on Bun and Deno, but Node's http2 server reads the socket's native handle and never sees
 *   them; so the HTTP/2 side gets a small Duplex that replays the preface and then relays the
 *   socket, which every runtime accepts.
 *
 * Requests with a gRPC content type (`application/grpc`, `application/grpc+proto`, not
 * gRPC-Web) go to connect-node's `connectNodeAdapter`, which can send HTTP/2 trailers; every
 * other request becomes a fetch `Request` for the web-standard handler, whose `Response` is
 * streamed back (server streams are written as they come).
 */

import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import { createServer as createNetServer, type Socket } from "node:net";
import { Duplex, Readable } from "node:stream";
import type { ConnectRouter, ConnectRouterOptions, ContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

/** The peer of a request, as the fetch handler and the gRPC handlers are told. */
export interface PeerInfo {
  readonly remoteAddress?: string | undefined;
}

export interface HttpServerOptions {
  /** The web-standard handler of everything but native gRPC. */
  readonly fetch: (request: Request, peer: PeerInfo) => Promise<Response>;
  /** Native gRPC (and Connect/gRPC-Web too, if asked) through connect-node; absent: 415 from fetch. */
  readonly grpc:
    | {
        readonly routes: (router: ConnectRouter) => void;
        readonly options: ConnectRouterOptions;
        readonly contextValues: (peer: PeerInfo) => ContextValues;
      }
    | undefined;
  readonly port: number;
  readonly hostname: string;
}

export const defaultHttpServerOptions: Pick<HttpServerOptions, "grpc" | "port" | "hostname"> = {
  grpc: undefined,
  port: 8080,
  hostname: "0.0.0.0",
};

export interface HttpServer {
  /** The port listened on (the one the OS chose when asked for 0). */
  readonly port: number;
  /** `http://<host>:<port>` */
  readonly url: string;
  /**
   * Stops accepting connections, lets open requests finish within `graceMs` (HTTP/2 sessions get
   * a GOAWAY, idle HTTP/1.1 connections are closed), then closes what is left.
   */
  close(graceMs?: number): Promise<void>;
}

const PREFACE = "PRI * HTTP/2.0";
const GRPC_CONTENT_TYPE = /^application\/grpc(?:\+[^;]*)?(?:;|$)/i;
/** Connection-specific headers that HTTP/2 forbids (RFC 9113 §8.2.2) and fetch may still list. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

export async function serveHttp(
  partial: Partial<HttpServerOptions> & Pick<HttpServerOptions, "fetch">,
): Promise<HttpServer> {
  const options: HttpServerOptions = { ...defaultHttpServerOptions, ...partial };
  const grpc = options.grpc;
  const grpcHandler =
    grpc === undefined
      ? undefined
      : connectNodeAdapter({
          ...grpc.options,
          routes: grpc.routes,
          contextValues: (req) => grpc.contextValues({ remoteAddress: peerAddress(req) }),
        });

  const handle = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    if (grpcHandler !== undefined && GRPC_CONTENT_TYPE.test(req.headers["content-type"] ?? "")) {
      grpcHandler(req, res);
      return;
    }
    void respond(req, res, options.fetch);
  };

  const h1 = createHttp1Server(handle);
  const h2 = createHttp2Server(handle);
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      if (
        chunk.subarray(0, PREFACE.length).toString("latin1") !==
        PREFACE.slice(0, Math.min(chunk.length, PREFACE.length))
      ) {
        socket.unshift(chunk);
        h1.emit("connection", socket);
        socket.resume();
        return;
      }
      h2.emit("connection", relay(socket, chunk));
    });
    socket.on("error", () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${options.hostname === "0.0.0.0" ? "127.0.0.1" : options.hostname}:${port}`,
    close(graceMs = 5_000) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const session of sessions) session.close();
        h1.closeIdleConnections();
        const deadline = Date.now() + graceMs;
        while (sockets.size > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          h1.closeIdleConnections();
        }
        for (const socket of sockets) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}

/** A Duplex that yields `first`, then whatever `socket` reads; writes go to the socket. */
function relay(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  Object.defineProperty(duplex, "remoteAddress", { value: socket.remoteAddress });
  duplex.push(first);
  socket.on("data", (data: Buffer) => {
    if (!duplex.push(data)) socket.pause();
  });
  socket.once("end", () => duplex.push(null));
  socket.once("close", () => duplex.destroy());
  socket.resume();
  return duplex;
}

function peerAddress(req: IncomingMessage | Http2ServerRequest): string | undefined {
  if ("stream" in req && req.stream !== undefined) {
    const session = req.stream.session as
      | (ServerHttp2Session & { socket?: { remoteAddress?: string } })
      | undefined;
    return (
      (session?.socket as { stream?: { remoteAddress?: string } } | undefined)?.stream?.remoteAddress ??
      session?.socket?.remoteAddress
    );
  }
  return req.socket.remoteAddress;
}

/** Serves one request with the fetch handler, streaming the response body. */
async function respond(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  fetchHandler: HttpServerOptions["fetch"],
): Promise<void> {
  const abort = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) abort.abort(new Error("the client closed the connection"));
  });
  let response: Response;
  try {
    response = await fetchHandler(toRequest(req, abort.signal), { remoteAddress: peerAddress(req) });
  } catch {
    response = new Response(JSON.stringify({ code: "internal", message: "internal error" }), {
      status: 500,
      headers: { "content-type": "application/json" },
    });
  }
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  const out = res as ServerResponse;
  if (response.body === null) {
    out.writeHead(response.status, headers);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    // A body that is complete as soon as it is read (a unary answer: a string or bytes) goes out
    // in one write with its length, instead of headers, a chunk and the chunked terminator. A
    // body still being produced is streamed as before: headers now, chunks as they come.
    let pending = reader.read();
    const first = await Promise.race([pending, NOT_YET]);
    if (first !== NOT_YET_VALUE && !first.done) {
      pending = reader.read();
      const second = await Promise.race([pending, NOT_YET]);
      if (second !== NOT_YET_VALUE && second.done) {
        headers["content-length"] = String(first.value.byteLength);
        out.writeHead(response.status, headers);
        out.end(first.value);
        return;
      }
      out.writeHead(response.status, headers);
      if (!(await write(out, first.value, abort.signal))) {
        res.end();
        return;
      }
    } else {
      out.writeHead(response.status, headers);
    }
    for (;;) {
      const { done, value } = await pending;
      if (done) break;
      if (!(await write(out, value, abort.signal))) break;
      pending = reader.read();
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    reader.releaseLock();
  }
}

/** The value of `NOT_YET`: a read that has not settled by the time `NOT_YET` does. */
const NOT_YET_VALUE = Symbol("not yet");
/** Raced against a read: an already settled read wins, since its reaction was queued first. */
const NOT_YET = Promise.resolve<typeof NOT_YET_VALUE>(NOT_YET_VALUE);

/** Writes one chunk, waiting for the drain when the buffer is full; false once the client is gone. */
async function write(res: ServerResponse, chunk: Uint8Array, signal: AbortSignal): Promise<boolean> {
  if (!res.write(chunk)) {
    await new Promise<void>((resolve) => {
      res.once("drain", resolve);
      res.once("close", resolve);
    });
  }
  return !signal.aborted;
}

function toRequest(req: IncomingMessage | Http2ServerRequest, signal: AbortSignal): Request {
  // Pairs, not a Headers: the Request builds its own Headers from them, instead of copying one.
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.push([name, v]);
    else headers.push([name, value]);
  }
  const authority = (req.headers[":authority"] as string | undefined) ?? req.headers.host ?? "localhost";
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(`http://${authority}${req.url ?? "/"}`, {
    method,
    headers,
    signal,
    ...(hasBody
      ? { body: Readable.toWeb(req as Readable) as unknown as ReadableStream<Uint8Array>, duplex: "half" }
      : {}),
  } as RequestInit);
}
