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
 * gRPC-Web) go to connect-node's `connectNodeAdapter`, which can send HTTP/2 trailers, and so do
 * requests on the paths `grpc.paths` names whatever their protocol (bidi streams, which a fetch
 * handler cannot serve); every other request becomes a fetch `Request` for the web-standard
 * handler, whose `Response` is streamed back (server streams are written as they come).
 *
 * With `tls` (certificate files), the port speaks HTTPS instead: `http2.createSecureServer` with
 * ALPN offering `h2` and `http/1.1`, so HTTP/2 clients (gRPC among them) and HTTP/1.1 clients
 * share it and no preface sniffing is needed (serveSecure below; docs/adr/0028-tls-on-every-hop.md).
 */

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { createServer as createHttp1Server, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createHttp2Server,
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  constants as http2Constants,
  type ServerHttp2Session,
} from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { Duplex, Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { ConnectRouter, ConnectRouterOptions, ContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  type ConnectionGuard,
  createConnectionGuard,
  type HttpLimits,
  resolveHttpLimits,
} from "./connection-guard.ts";

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
        /** Request paths served by connect-node in every protocol, not only gRPC. */
        readonly paths?: readonly string[];
      }
    | undefined;
  readonly port: number;
  readonly hostname: string;
  /** HTTPS (h2 and HTTP/1.1 by ALPN) from these files; undefined: cleartext h2c and HTTP/1.1. */
  readonly tls: HttpTlsOptions | undefined;
  /** Timeouts and sizes that cut off slow, idle and oversized clients (connection-guard.ts). */
  readonly limits: Partial<HttpLimits>;
  /**
   * Request paths whose body lasts as long as the call (client-streaming and bidi methods): no
   * body timeout for them, their call's deadline bounds them.
   */
  readonly streamingPaths: readonly string[];
}

/** The server's certificate (PEM, the chain when there is one) and its private key (PEM). */
export interface HttpTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
}

export const defaultHttpServerOptions: Pick<
  HttpServerOptions,
  "grpc" | "port" | "hostname" | "tls" | "limits" | "streamingPaths"
> = {
  grpc: undefined,
  port: 8080,
  hostname: "0.0.0.0",
  tls: undefined,
  limits: {},
  streamingPaths: [],
};

export interface HttpServer {
  /** The port listened on (the one the OS chose when asked for 0). */
  readonly port: number;
  /** `http://<host>:<port>`, or `https://…` with TLS. */
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
  const guard = createConnectionGuard(resolveHttpLimits(options.limits));
  const grpc = options.grpc;
  const grpcHandler =
    grpc === undefined
      ? undefined
      : connectNodeAdapter({
          ...grpc.options,
          routes: grpc.routes,
          contextValues: (req) => grpc.contextValues({ remoteAddress: peerAddress(req) }),
          // An unknown gRPC path is answered (404) by the fetch handler, like any unknown route.
          fallback: (req, res) =>
            void respond(req, res as ServerResponse | Http2ServerResponse, options.fetch),
        });

  const grpcPaths = new Set(grpc?.paths ?? []);
  const streamingPaths = new Set(options.streamingPaths);
  const handle = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    if (!guard.admit(req, res, streamingPaths.has(req.url?.split("?", 1)[0] ?? ""))) return;
    if (
      grpcHandler !== undefined &&
      (GRPC_CONTENT_TYPE.test(req.headers["content-type"] ?? "") || grpcPaths.has(req.url ?? ""))
    ) {
      grpcHandler(req, res);
      return;
    }
    void respond(req, res, options.fetch);
  };
  if (options.tls !== undefined) return serveSecure(options, options.tls, handle, guard);

  const h1 = createHttp1Server(guard.http1Options, handle);
  const h2 = createHttp2Server(guard.http2Options, handle);
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const server = createNetServer((socket) => {
    sockets.add(socket);
    guard.accepted(socket);
    socket.once("close", () => sockets.delete(socket));
    // The first bytes decide the protocol; a client that sends them one at a time (a trickled
    // `POST`, whose first byte is also the preface's) is read until they match or differ.
    let head: Buffer | undefined;
    const sniff = (chunk: Buffer) => {
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const h2c = head.subarray(0, n).toString("latin1") === PREFACE.slice(0, n);
      if (h2c && n < PREFACE.length) {
        socket.once("data", sniff);
        return;
      }
      socket.pause();
      if (!h2c) {
        socket.unshift(head);
        h1.emit("connection", socket);
        socket.resume();
        return;
      }
      // Node, Bun and Deno create the session, and emit "session", within this call.
      h2.once("session", (session: ServerHttp2Session) => guard.http2Session(session, socket));
      h2.emit("connection", relay(socket, head));
    };
    socket.once("data", sniff);
    socket.on("error", () => socket.destroy());
  });

  const port = await listen(server, options.port, options.hostname);
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${options.hostname === "0.0.0.0" ? "127.0.0.1" : options.hostname}:${port}`,
    close(graceMs = 5_000) {
      closing ??= (async () => {
        guard.stop();
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

type Handle = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

/**
 * The HTTPS port: one `Http2SecureServer` whose ALPN offers `h2` and `http/1.1` (`allowHTTP1`
 * hands HTTP/1.1 connections to the same handler). Closing mirrors the cleartext port: HTTP/2
 * sessions get a GOAWAY, HTTP/1.1 connections are closed once idle, and whatever is left when
 * `graceMs` is up is destroyed. The certificate is read once: a new one needs a restart.
 */
async function serveSecure(
  options: HttpServerOptions,
  tls: HttpTlsOptions,
  handle: Handle,
  guard: ConnectionGuard,
): Promise<HttpServer> {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(
        `cannot read the TLS ${what} file ${file}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  const sockets = new Set<Socket>();
  const sessions = new Set<ServerHttp2Session>();
  /** HTTP/1.1 connections and how many of their requests are still open. */
  const http1 = new Map<TLSSocket, number>();
  let closing = false;
  const endIfIdle = (socket: TLSSocket) => {
    if (http1.get(socket) === 0) socket.end();
  };
  const server: Http2SecureServer = createSecureServer(
    {
      cert: read("certificate", tls.certFile),
      key: read("key", tls.keyFile),
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
      ...guard.http2Options,
      // A handshake that is not done when a request head should be is a slow client too.
      handshakeTimeout: guard.limits.headersTimeoutMs,
    },
    (req, res) => {
      if (req.httpVersionMajor === 1) {
        const socket = req.socket as TLSSocket;
        http1.set(socket, (http1.get(socket) ?? 0) + 1);
        if (closing) res.setHeader("connection", "close");
        res.once("close", () => {
          http1.set(socket, (http1.get(socket) ?? 1) - 1);
          if (closing) endIfIdle(socket);
        });
      }
      handle(req, res);
    },
  );
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol === "h2") return;
    guard.accepted(socket);
    http1.set(socket, 0);
    socket.once("close", () => http1.delete(socket));
  });
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    guard.http2Session(session);
    session.once("close", () => sessions.delete(session));
  });
  // A client that fails the handshake (a wrong protocol, a cleartext request) is its own problem.
  server.on("tlsClientError", () => {});

  const port = await listen(server, options.port, options.hostname);
  let closed: Promise<void> | undefined;
  return {
    port,
    url: `https://${options.hostname === "0.0.0.0" ? "127.0.0.1" : options.hostname}:${port}`,
    close(graceMs = 5_000) {
      closed ??= (async () => {
        guard.stop();
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const session of sessions) session.close();
        const deadline = Date.now() + graceMs;
        while (sockets.size > 0 && Date.now() < deadline) {
          for (const socket of http1.keys()) endIfIdle(socket);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        for (const socket of sockets) socket.destroy();
        await stopped;
      })();
      return closed;
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
  // A response complete before the request body was read whole (a refusal, a 404): on HTTP/2 the
  // client is asked to stop sending (RST_STREAM NO_ERROR, RFC 9113 §8.1), as Node does itself for
  // a request nobody touched, so that a refused stream does not stay open.
  if ("stream" in req && req.stream !== undefined) {
    const stream = req.stream;
    stream.once("finish", () => {
      if (!req.readableEnded && !stream.closed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
    });
  }
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
  const scheme = (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? "https" : "http";
  return new Request(`${scheme}://${authority}${req.url ?? "/"}`, {
    method,
    headers,
    signal,
    ...(hasBody
      ? { body: Readable.toWeb(req as Readable) as unknown as ReadableStream<Uint8Array>, duplex: "half" }
      : {}),
  } as RequestInit);
}

/** Listens on `hostname`:`port` (0: a free one); resolves with the port it listens on. */
async function listen(server: NetServer, port: number, hostname: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : port;
}
