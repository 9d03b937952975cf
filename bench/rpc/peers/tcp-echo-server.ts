/**
 * The floor of the "direct" peer: a plain TCP echo server (`node:net`, no NATS, no protobuf
 * decoding) that writes back every byte it reads. Its ready target is `tcp://127.0.0.1:<port>`.
 */
import { createServer } from "node:net";
import { servePeer } from "../../shared/serve-peer.ts";

await servePeer(
  () =>
    new Promise((resolve, reject) => {
      const server = createServer((socket) => {
        socket.setNoDelay(true);
        socket.on("data", (chunk) => socket.write(chunk));
        socket.on("error", () => socket.destroy());
      });
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: 0 }, () => {
        const address = server.address();
        const port = typeof address === "object" && address !== null ? address.port : 0;
        resolve({
          target: `tcp://127.0.0.1:${port}`,
          close: () => new Promise<void>((done) => server.close(() => done())),
        });
      });
    }),
);
