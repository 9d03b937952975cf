/**
 * The floor of the "direct" peer: calls over one TCP connection to the echo server, many in
 * flight, each a frame `length:u32 id:u32 request` (the encoded EchoRequest, as the other peers
 * send) matched to its echo by id; the frames of one event-loop turn go out in one write, as
 * Troupe's do. No NATS, no protobuf: what any call by address costs at least.
 */
import { connect } from "node:net";
import { setImmediate } from "node:timers";
import { encodedEchoRequestOfSize } from "../../shared/echo-request.ts";
import { checkEcho, type PeerClient } from "../peer-client.ts";

export async function connectTcpEchoClient(target: string): Promise<PeerClient> {
  const { hostname, port } = new URL(target);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const waiting = new Map<number, (length: number) => void>();
  let buffered = new Uint8Array(0);
  socket.on("data", (chunk: Uint8Array) => {
    let bytes = chunk;
    if (buffered.length > 0) {
      bytes = new Uint8Array(buffered.length + chunk.length);
      bytes.set(buffered);
      bytes.set(chunk, buffered.length);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (bytes.length - at >= 8) {
      const length = view.getUint32(at);
      if (bytes.length - at - 4 < length) break;
      const id = view.getUint32(at + 4);
      waiting.get(id)?.(length - 4);
      waiting.delete(id);
      at += 4 + length;
    }
    buffered = bytes.slice(at);
  });
  let nextId = 0;
  let queued: Uint8Array[] = [];
  const flush = () => {
    const frames = queued;
    queued = [];
    socket.write(frames.length === 1 ? (frames[0] as Uint8Array) : Buffer.concat(frames));
  };
  return {
    echo(sizeBytes) {
      const request = encodedEchoRequestOfSize(sizeBytes);
      return () =>
        new Promise<void>((resolve, reject) => {
          const id = nextId++ >>> 0;
          const frame = new Uint8Array(8 + request.length);
          const view = new DataView(frame.buffer);
          view.setUint32(0, 4 + request.length);
          view.setUint32(4, id);
          frame.set(request, 8);
          waiting.set(id, (length) => {
            try {
              checkEcho(request.length, length);
              resolve();
            } catch (err) {
              reject(err);
            }
          });
          if (queued.push(frame) === 1) setImmediate(flush);
        });
    },
    close: async () => {
      socket.destroy();
    },
  };
}
