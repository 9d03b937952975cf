import { startNatsServer } from "../../runtime/testing.ts";
import { spawnChild } from "./spawn-child.ts";

const nats = await startNatsServer({ jetstream: false });
const combos: [string, string][] = [
  ["raw-server", "mux"], ["troupe-server", "mux"], ["raw-server", "troupe"], ["troupe-server", "troupe"],
];
for (const rt of ["bun", "node"]) {
  for (let round = 0; round < 2; round++) {
    for (const [server, client] of combos) {
      const s = spawnChild(`node_modules/.bin/${rt}`, [`bench/rpc/peers/${server}.ts`, "--nats-url", nats.url], ".");
      await s.nextLine(20000);
      const c = spawnChild(`node_modules/.bin/${rt}`, ["bench/rpc/client.ts", "--peer", client, "--target", nats.url, "--seconds", "2", "--calls", "2000"], ".");
      const line = await c.nextLine(60000);
      await c.stop(); await s.stop();
      if (line.kind !== "result") { console.log(line); continue; }
      console.log(rt, server, client, line.sizes.map((x) => `${x.sizeBytes}B p50 ${Math.round(x.p50Us)} ${Math.round(x.callsPerSecond)}/s`).join("  "));
    }
  }
}
await nats.dispose();
