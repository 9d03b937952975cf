/**
 * The limits of the HTTP server of runtime/platform/http2-server.ts against clients that hold
 * connections without using them (slowloris: a request head or body trickled a byte at a time,
 * connections opened and left idle) and against oversized request heads
 * (docs/adr/0029-a-hardened-edge.md).
 *
 * Why here and not in the runtimes' own options: the server hands each connection to an http1
 * or http2 server that never listens itself (emit("connection"), see http2-server.ts), and of
 * the three runtimes none cuts off a slow or idle client on such a server: Node's
 * `headersTimeout`/`requestTimeout` are enforced by a timer that starts on `listen`, Bun and Deno
 * have no such options on `node:http`, and none has an idle timeout for HTTP/2 sessions (tested,
 * tests/portable/gateway-limits.test.ts). So one sweep per server, a few times a second, checks
 * every connection against timestamps the request path sets: no timer per request on the hot path.
 *
 * What the runtimes do enforce is passed to them as options (`http1Options`, `http2Options`): the
 * size of an HTTP/1.1 head (431 on all three), the number of header fields and concurrent streams
 * of HTTP/2 (RST_STREAM and REFUSED_STREAM on all three). The HTTP/2 header list size is
 * enforced by Bun only, and HTTP/1.1 has no limit on the count of header fields anywhere, so both
 * are checked again per request (`admit`).
 */
import type { ServerOptions as Http1ServerOptions, IncomingMessage, ServerResponse } from "node:http";
import {
  constants,
  type ServerOptions as Http2ServerOptions,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { Socket } from "node:net";
import { setInterval } from "node:timers";

export interface HttpLimits {
  /**
   * How long the server waits for a complete request head: from the moment a connection is
   * accepted (on HTTP/2, until its first stream opens), and on HTTP/1.1 from the end of one
   * response to the next request (the keep-alive idle time). Then the connection is closed.
   */
  readonly headersTimeoutMs: number;
  /** An HTTP/2 connection that has had streams and has none open is closed (GOAWAY) after this long. */
  readonly idleTimeoutMs: number;
  /**
   * A request body must have arrived whole this long after the request head, or the request is
   * cut off (HTTP/1.1: the connection is closed; HTTP/2: the stream is reset). Not applied to the
   * paths of client-streaming and bidi calls, whose body lasts as long as the call (its deadline
   * bounds it).
   */
  readonly bodyTimeoutMs: number;
  /** The largest request head: the header names and values together, in bytes (431 above). */
  readonly maxHeaderBytes: number;
  /** The most header fields one request may have (431 above). */
  readonly maxHeaderCount: number;
  /** HTTP/2 streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
}

export const defaultHttpLimits: HttpLimits = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxConcurrentStreams: 100,
};

/** Fills in the defaults and refuses a limit that is not a positive whole number. */
export function resolveHttpLimits(partial: Partial<HttpLimits> = {}): HttpLimits {
  const limits: HttpLimits = { ...defaultHttpLimits, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new Error(`HTTP limits: ${name} must be a positive whole number, got ${value}`);
  }
  return limits;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

export interface ConnectionGuard {
  readonly limits: HttpLimits;
  /** Options for `http.createServer`. */
  readonly http1Options: Http1ServerOptions;
  /** Options for `http2.createServer`. */
  readonly http2Options: Http2ServerOptions;
  /** A connection was accepted (cleartext), or its TLS handshake done; it is watched until it closes. */
  accepted(socket: Socket): void;
  /**
   * An HTTP/2 session: of the connection `socket`, accepted before (cleartext); or, without a
   * socket, a connection of its own (TLS, where the runtime creates the session first).
   */
  http2Session(session: ServerHttp2Session, socket?: Socket): void;
  /**
   * A request arrived. False when it is refused (its head is too large), and answered already.
   * `longBody`: its body lasts as long as the call (a client stream), no body timeout.
   */
  admit(req: AnyRequest, res: AnyResponse, longBody: boolean): boolean;
  /** Stops watching (the server is closing). */
  stop(): void;
}

interface Connection {
  /** Ends the connection at once. */
  readonly destroy: () => void;
  session: ServerHttp2Session | undefined;
  /** Requests (HTTP/2: streams) in progress. */
  active: number;
  /** Since when nothing has been in progress (ms, monotonic). */
  since: number;
  /** Has served a request: an idle HTTP/2 connection then gets `idleTimeoutMs`. */
  served: boolean;
  /** When the guard closed it gracefully (HTTP/2 GOAWAY); destroyed if still open a second later. */
  closedAt: number | undefined;
}

interface PendingBody {
  readonly since: number;
  readonly cancel: () => void;
}

/** How long a connection closed with GOAWAY may take to go before it is destroyed. */
const GOAWAY_GRACE_MS = 1_000;

export function createConnectionGuard(limits: HttpLimits): ConnectionGuard {
  const now = () => performance.now();
  const connections = new Set<Connection>();
  const bySocket = new WeakMap<object, Connection>();
  const bySession = new WeakMap<object, Connection>();
  const bodies = new Map<AnyRequest, PendingBody>();

  const sweep = () => {
    const t = now();
    for (const conn of connections) {
      if (conn.closedAt !== undefined) {
        if (t - conn.closedAt >= GOAWAY_GRACE_MS) conn.destroy();
        continue;
      }
      if (conn.active > 0) continue;
      const limit =
        conn.session !== undefined && conn.served ? limits.idleTimeoutMs : limits.headersTimeoutMs;
      if (t - conn.since < limit) continue;
      if (conn.session === undefined) {
        conn.destroy();
      } else {
        conn.closedAt = t;
        conn.session.close();
      }
    }
    for (const [req, body] of bodies) {
      if (t - body.since < limits.bodyTimeoutMs) continue;
      bodies.delete(req);
      body.cancel();
    }
  };
  // Timeouts are kept to within a quarter of the shortest one (at most a second late).
  const everyMs = Math.max(
    25,
    Math.min(
      1_000,
      Math.floor(Math.min(limits.headersTimeoutMs, limits.idleTimeoutMs, limits.bodyTimeoutMs) / 4),
    ),
  );
  const timer = setInterval(sweep, everyMs);
  timer.unref();

  const watch = (destroy: () => void): Connection => {
    const conn: Connection = {
      destroy,
      session: undefined,
      active: 0,
      since: now(),
      served: false,
      closedAt: undefined,
    };
    connections.add(conn);
    return conn;
  };

  return {
    limits,
    // The count of header fields is checked by `admit`; their total size bounds the parsing.
    http1Options: { maxHeaderSize: limits.maxHeaderBytes },
    http2Options: {
      // The count includes the four pseudo-headers (:method, :scheme, :authority, :path).
      maxHeaderListPairs: limits.maxHeaderCount + 4,
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderBytes,
      },
    },
    accepted(socket) {
      const conn = watch(() => socket.destroy());
      bySocket.set(socket, conn);
      socket.once("close", () => connections.delete(conn));
    },
    http2Session(session, socket) {
      let conn = socket === undefined ? undefined : bySocket.get(socket);
      if (conn === undefined) {
        const own = watch(() => session.destroy());
        session.once("close", () => connections.delete(own));
        conn = own;
      }
      conn.session = session;
      bySession.set(session, conn);
    },
    admit(req, res, longBody) {
      const refusal = headRefusal(req.rawHeaders, limits);
      if (refusal !== undefined) {
        const out = res as ServerResponse;
        out.writeHead(431, {
          "content-type": "application/json",
          ...(isHttp2(req) ? {} : { connection: "close" }),
        });
        out.end(JSON.stringify({ code: "resource_exhausted", message: refusal }));
        return false;
      }
      const conn = isHttp2(req) ? bySession.get(req.stream.session as object) : bySocket.get(req.socket);
      if (conn !== undefined) {
        conn.active++;
        conn.served = true;
        res.once("close", () => {
          conn.active--;
          if (conn.active === 0) conn.since = now();
        });
      }
      if (!longBody && hasBody(req)) {
        const cancel = isHttp2(req)
          ? () => req.stream.close(constants.NGHTTP2_CANCEL)
          : () => req.socket.destroy();
        bodies.set(req, { since: now(), cancel });
        const done = () => bodies.delete(req);
        req.once("end", done);
        res.once("close", done);
      }
      return true;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

function isHttp2(req: AnyRequest): req is Http2ServerRequest {
  return "stream" in req && req.stream !== undefined;
}

/** RFC 9112 §6.3: an HTTP/1.1 request has a body only with a length or a transfer coding. */
function hasBody(req: AnyRequest): boolean {
  if (isHttp2(req)) return !(req.stream as { endAfterHeaders?: boolean }).endAfterHeaders;
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
}

/** Why a request head is refused, or undefined. `raw`: names and values, alternating. */
function headRefusal(raw: readonly string[], limits: HttpLimits): string | undefined {
  let count = 0;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.startsWith(":")) continue; // HTTP/2 pseudo-headers: the request line
    count++;
    bytes += name.length + (raw[i + 1] as string).length;
  }
  if (count > limits.maxHeaderCount)
    return `the request has ${count} header fields; the limit is ${limits.maxHeaderCount}`;
  if (bytes > limits.maxHeaderBytes)
    return `the request's header fields take ${bytes} bytes; the limit is ${limits.maxHeaderBytes}`;
  return undefined;
}
