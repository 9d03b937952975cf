/**
 * What it costs a host to read a call's protocol headers (content type, deadline) from a request
 * as nats.js delivers it: through `msg.headers` (nats.js decodes the whole block) against
 * `pickMessageHeaders` (runtime/protocol/raw-headers.ts: the bytes, scanned). Each message is
 * a fresh nats.js message object with the header block a Troupe client sends, so neither reading
 * is served from a cache. Prints µs per message, best of 5 rounds.
 *
 *   <runtime> bench/rpc/header-read.ts [--messages 300000]
 */
import { parseArgs } from "node:util";
import { headers, type Msg } from "@nats-io/nats-core";
import { MsgImpl, type Publisher } from "@nats-io/nats-core/internal";
import { Header } from "troupe/protocol";
import { pickHeaders } from "../../runtime/protocol/metadata.ts";
import { pickMessageHeaders } from "../../runtime/protocol/raw-headers.ts";
import { runtimeLabel } from "../shared/runtime-label.ts";

const { values } = parseArgs({ options: { messages: { type: "string", default: "300000" } } });
const count = Number(values.messages);
const NAMES = [Header.contentType, Header.timeoutMs] as const;

const hdrs = headers();
hdrs.set(Header.timeoutMs, "10000");
const block = (hdrs as unknown as { encode(): Uint8Array }).encode();
const data = new Uint8Array(block.length + 100);
data.set(block);
const subject = new TextEncoder().encode("rpc.troupe.bench.v1.BenchService.Echo");
const message = (): Msg =>
  new MsgImpl(
    { subject, reply: subject, sid: 1, hdr: block.length, size: data.length },
    data,
    {} as Publisher,
  ) as unknown as Msg; // nats.js types `headers` as optional, its class as possibly undefined

const readings: Record<string, (msg: Msg) => readonly (string | undefined)[]> = {
  "msg.headers (nats.js decode)": (msg) => pickHeaders(msg.headers, NAMES),
  pickMessageHeaders: (msg) => pickMessageHeaders(msg, NAMES),
};
for (const [name, read] of Object.entries(readings)) {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      if (read(message())[1] !== "10000") throw new Error(`${name} misread the deadline`);
    }
    best = Math.min(best, ((performance.now() - started) * 1000) / count);
  }
  console.log(`${runtimeLabel()}: ${name}: ${best.toFixed(2)} µs per message`);
}
