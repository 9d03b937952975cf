/**
 * The load generator process (always on Node, whatever the runtime under test, so that only
 * the servers change between runtimes): runs one peer's load for the warm-up and the measured
 * window and writes one "result" line for the driver.
 *
 *   node bench/gateway/load.ts --protocol http1 --target http://127.0.0.1:4100 \
 *     --concurrency 64 --sessions 4 --seconds 5 --warmup-seconds 1
 */
import { parseArgs } from "node:util";
import { writeChildLine } from "../shared/child-line.ts";
import type { ResultLine } from "./child-line.ts";
import { loadH2 } from "./load-h2.ts";
import { loadHttp1 } from "./load-http1.ts";

const { values } = parseArgs({
  options: {
    protocol: { type: "string" },
    target: { type: "string" },
    concurrency: { type: "string", default: "64" },
    sessions: { type: "string", default: "4" },
    seconds: { type: "string", default: "5" },
    "warmup-seconds": { type: "string", default: "1" },
  },
});
const { protocol, target } = values;
if (target === undefined) throw new Error("--target is required");
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values["warmup-seconds"]);

let result: Awaited<ReturnType<typeof loadHttp1>>;
if (protocol === "http1") result = await loadHttp1(target, concurrency, warmupSeconds, seconds);
else if (protocol === "h2")
  result = await loadH2(target, concurrency, Number(values.sessions), warmupSeconds, seconds);
else throw new Error(`--protocol must be http1 or h2, not "${protocol}"`);
writeChildLine({ kind: "result", result } satisfies ResultLine);
process.exit(0);
