/**
 * The host side of direct calls by address (docs/adr/0031-direct-calls-by-address.md): a TCP
 * listener whose request frames are served exactly as NATS messages are (`dispatch`, the same
 * method table, deadline, identity check, validation, load shedding, tracing and stats); each
 * answer goes back on the connection it came from. The address is advertised in discovery, so a
 * caller that asks for it skips nats-server for the call.
 *
 * Who may call: when the process has NATS credentials, a caller proves on connecting that it holds
 * a user of the same account (security/direct-auth.ts), and each call's subject must be one its
 * user may publish to, as nats-server would require; a call it may not make is answered
 * `permission_denied`, naming the subject.
 *
 * Draining: the listener stops accepting, tells every connection GOAWAY (its caller sends new
 * calls over NATS), answers what it had taken and refuses what still arrives, so no call is left
 * without an answer.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Msg, MsgHdrs } from "@nats-io/nats-core";
import type { Logger } from "../observability/logger.ts";
import { type ByteStream, listenTcp, type TcpListener, type TlsIdentity } from "../platform/tcp.ts";
import {
  encodeHeaders,
  encodeReplyHead,
  encodeSignal,
  FrameDecoder,
  FrameError,
  FrameKind,
  FrameMsg,
  formatDirectAddress,
} from "../protocol/direct-frames.ts";
import type { DirectCaller, DirectProof } from "../security/direct-auth.ts";
import { replyError } from "./reply.ts";

/** Checks a caller's proof of identity against the nonce it was sent (direct-auth.ts). */
export type DirectAuthority = (proof: DirectProof, nonce: Uint8Array) => DirectCaller | string;

/** The caller of a listener that asks for no proof: it may call whatever is served. */
const ANYONE: DirectCaller = { name: "anyone", mayCall: () => true };

export interface DirectListenOptions {
  /** The interface to listen on; `127.0.0.1` unless the callers are on other machines. */
  readonly host: string;
  /** 0: a free port the OS picks. */
  readonly port: number;
  /**
   * The address callers are told (`host:port`); by default the listening one, with the port the
   * OS picked. Needed when listening on `0.0.0.0` or behind a mapped port.
   */
  readonly advertise: string | undefined;
  /** Frames longer than this end the connection: the peer does not speak the protocol. */
  readonly maxFrameBytes: number;
  /**
   * Serve TLS with this certificate and key (PEM); the address is then advertised as
   * `tls://host:port`, and callers verify the certificate against the CA they trust for NATS.
   */
  readonly tls: TlsIdentity | undefined;
}

export const defaultDirectListenOptions: DirectListenOptions = {
  host: "127.0.0.1",
  port: 0,
  advertise: undefined,
  maxFrameBytes: 8 * 1024 * 1024,
  tls: undefined,
};

export interface DirectListener {
  /** `host:port` (`tls://host:port` with TLS), as discovery advertises it. */
  readonly address: string;
  /** Calls taken over TCP since the start. */
  readonly served: number;
  /** Calls refused because the caller's NATS user may not make them. */
  readonly denied: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops taking calls (GOAWAY) and closes each connection once its calls are answered. */
  drain(): Promise<void>;
  /** Closes the listener and every connection at once (calls in flight lose their connection). */
  close(): Promise<void>;
}

/**
 * Listens for direct calls; `dispatch` serves one as a NATS message and returns false when no
 * served service has its subject (the caller is told REFUSED and sends it over NATS).
 */
export async function listenDirect(
  dispatch: (msg: Msg) => boolean,
  partial: Partial<DirectListenOptions>,
  logger: Logger,
  authority: DirectAuthority | undefined,
): Promise<DirectListener> {
  const options = { ...defaultDirectListenOptions, ...partial };
  const open = new Set<DirectConnection>();
  let draining = false;
  let served = 0;
  let denied = 0;

  const listener: TcpListener = await listenTcp(
    options.host,
    options.port,
    (stream) => {
      const connection = new DirectConnection(stream, options.maxFrameBytes);
      open.add(connection);
      const nonce = crypto.getRandomValues(new Uint8Array(32));
      if (authority === undefined) connection.caller = ANYONE;
      stream.write(encodeSignal(FrameKind.hello, authority === undefined ? 0 : 1, nonce));
      if (draining) connection.goAway();
      const refuse = (reason: string) => {
        logger.log("warn", "direct caller refused", { peer: stream.peer, reason });
        stream.destroy();
      };
      return {
        onData(chunk) {
          let frames: ReturnType<FrameDecoder["push"]>;
          try {
            frames = connection.decoder.push(chunk);
          } catch (err) {
            const reason = err instanceof FrameError ? err.message : String(err);
            logger.log("warn", "direct connection ended: not a frame stream", { peer: stream.peer, reason });
            stream.destroy();
            return;
          }
          for (const frame of frames) {
            if (frame.kind === FrameKind.auth && authority !== undefined && connection.caller === undefined) {
              let proof: DirectProof;
              try {
                proof = JSON.parse(new TextDecoder().decode(frame.payload)) as DirectProof;
              } catch {
                return refuse("its proof of identity is not JSON");
              }
              const caller = authority(proof, nonce);
              if (typeof caller === "string") return refuse(caller);
              connection.caller = caller;
              stream.write(encodeSignal(FrameKind.welcome, 0));
              continue;
            }
            if (frame.kind !== FrameKind.request) continue; // only callers' frames are requests
            const caller = connection.caller;
            if (caller === undefined) return refuse("it called before proving who it is");
            if (draining) {
              stream.write(encodeSignal(FrameKind.refused, frame.id));
              continue;
            }
            const msg = new FrameMsg(frame, (payload, hdrs) => connection.answer(frame.id, payload, hdrs));
            connection.pending++;
            if (!caller.mayCall(frame.subject)) {
              // What nats-server would refuse this caller's user, the listener refuses too.
              const why = `not permitted to publish to ${frame.subject} (user ${caller.name})`;
              replyError(msg, new ConnectError(why, Code.PermissionDenied));
              denied++;
              continue;
            }
            let taken: boolean;
            try {
              taken = dispatch(msg);
            } catch (err) {
              taken = false;
              logger.log("error", "unexpected failure serving a direct call", { reason: String(err) });
            }
            if (!taken) {
              connection.pending--;
              stream.write(encodeSignal(FrameKind.refused, frame.id));
            } else {
              served++;
            }
          }
        },
        onClose() {
          open.delete(connection);
          connection.closed();
        },
      };
    },
    options.tls,
  );

  const hostPort = options.advertise ?? `${options.host}:${listener.port}`;
  const address = formatDirectAddress(hostPort, options.tls !== undefined);
  return {
    address,
    get served() {
      return served;
    },
    get denied() {
      return denied;
    },
    get connections() {
      return open.size;
    },
    async drain() {
      if (draining) return;
      draining = true;
      // The listener's close waits for its connections, which end once their calls are answered.
      const closing = listener.close().catch(() => {});
      await Promise.all([...open].map((c) => c.goAway()));
      await closing;
    },
    async close() {
      draining = true;
      const closing = listener.close().catch(() => {});
      for (const connection of open) connection.stream.destroy();
      await closing;
    },
  };
}

/** One caller's connection: its decoder, its calls in flight, and its end once drained. */
class DirectConnection {
  readonly stream: ByteStream;
  readonly decoder: FrameDecoder;
  /** Who proved to be calling; undefined until then. */
  caller: DirectCaller | undefined;
  pending = 0;
  #goingAway = false;
  #ended: (() => void) | undefined;
  readonly #endedPromise: Promise<void>;

  constructor(stream: ByteStream, maxFrameBytes: number) {
    this.stream = stream;
    this.decoder = new FrameDecoder(maxFrameBytes);
    this.#endedPromise = new Promise((resolve) => {
      this.#ended = resolve;
    });
  }

  answer(id: number, payload: Uint8Array, hdrs: MsgHdrs | undefined): boolean {
    const written =
      this.stream.write(encodeReplyHead(id, encodeHeaders(hdrs), payload.length)) &&
      this.stream.write(payload);
    this.pending--;
    if (this.#goingAway && this.pending === 0) this.stream.end();
    return written;
  }

  /** GOAWAY, then the end of the connection once its calls are answered; resolves when closed. */
  goAway(): Promise<void> {
    if (!this.#goingAway) {
      this.#goingAway = true;
      this.stream.write(encodeSignal(FrameKind.goAway, 0));
      if (this.pending === 0) this.stream.end();
    }
    return this.#endedPromise;
  }

  closed(): void {
    this.#ended?.();
  }
}
