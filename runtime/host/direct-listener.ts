/**
 * The host side of direct calls by address (docs/adr/0031-direct-calls-by-address.md): a TCP
 * listener whose request frames are served exactly as NATS messages are (`dispatch`, the same
 * method table, deadline, identity check, validation, load shedding, tracing and stats); each
 * answer goes back on the connection it came from. The address is advertised in discovery, so a
 * caller that asks for it skips nats-server for the call.
 *
 * Draining: the listener stops accepting, tells every connection GOAWAY (its caller sends new
 * calls over NATS), answers what it had taken and refuses what still arrives, so no call is left
 * without an answer.
 */
import type { Msg, MsgHdrs } from "@nats-io/nats-core";
import type { Logger } from "../observability/logger.ts";
import { type ByteStream, listenTcp, type TcpListener } from "../platform/tcp.ts";
import {
  encodeHeaders,
  encodeReply,
  encodeSignal,
  FrameDecoder,
  FrameError,
  FrameKind,
  FrameMsg,
} from "../protocol/direct-frames.ts";

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
}

export const defaultDirectListenOptions: DirectListenOptions = {
  host: "127.0.0.1",
  port: 0,
  advertise: undefined,
  maxFrameBytes: 8 * 1024 * 1024,
};

export interface DirectListener {
  /** `host:port`, as discovery advertises it. */
  readonly address: string;
  /** Calls taken over TCP since the start. */
  readonly served: number;
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
): Promise<DirectListener> {
  const options = { ...defaultDirectListenOptions, ...partial };
  const open = new Set<DirectConnection>();
  let draining = false;
  let served = 0;

  const listener: TcpListener = await listenTcp(options.host, options.port, (stream) => {
    const connection = new DirectConnection(stream, options.maxFrameBytes);
    open.add(connection);
    if (draining) connection.goAway();
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
          if (frame.kind !== FrameKind.request) continue; // only callers' frames are requests
          if (draining) {
            stream.write(encodeSignal(FrameKind.refused, frame.id));
            continue;
          }
          const msg = new FrameMsg(frame, (payload, hdrs) => connection.answer(frame.id, payload, hdrs));
          connection.pending++;
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
  });

  const address = options.advertise ?? `${options.host}:${listener.port}`;
  return {
    address,
    get served() {
      return served;
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
    const written = this.stream.write(encodeReply(id, encodeHeaders(hdrs), payload));
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
