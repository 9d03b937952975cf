/**
 * A bare TCP client for tests that speak a protocol by hand (NATS frames the client library
 * would never write): lines in, text out, closed by `await using`.
 */
import { connect as connectSocket } from "node:net";

export interface RawTcp extends AsyncDisposable {
  /** The next CRLF-terminated line, without its CRLF. */
  readLine(): Promise<string>;
  /** Writes `text` and resolves once the socket took it. */
  send(text: string): Promise<void>;
}

/** Opens a connection to the host and port of `url` (`nats://127.0.0.1:4222`). */
export async function openTcp(url: string): Promise<RawTcp> {
  const { hostname, port } = new URL(url);
  const socket = connectSocket(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let buffered = "";
  const waiting: (() => void)[] = [];
  let failure: Error | undefined;
  socket.on("data", (chunk: Uint8Array) => {
    buffered += new TextDecoder().decode(chunk);
    for (const wake of waiting.splice(0)) wake();
  });
  socket.on("error", (err) => {
    failure = err;
    for (const wake of waiting.splice(0)) wake();
  });
  socket.on("close", () => {
    failure ??= new Error("the connection closed");
    for (const wake of waiting.splice(0)) wake();
  });
  return {
    async readLine() {
      for (;;) {
        const end = buffered.indexOf("\r\n");
        if (end !== -1) {
          const line = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          return line;
        }
        if (failure !== undefined) throw failure;
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
    },
    send(text) {
      return new Promise((resolve, reject) => socket.write(text, (err) => (err ? reject(err) : resolve())));
    },
    async [Symbol.asyncDispose]() {
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.destroy();
      await closed;
    },
  };
}
