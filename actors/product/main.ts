/**
 * The product actor as a process: `bun run actors/product/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (runtime/cli/run-actor.ts).
 * PRODUCT_TEST_DELAY_MS, when set, adds that much latency to every read (drills, drain tests).
 */
import { readEnv, runActor } from "../../runtime/mod.ts";
import { createProductActor, productActor } from "./actor.ts";

const delayMs = readEnv("PRODUCT_TEST_DELAY_MS");
await runActor(delayMs ? createProductActor({ latencyMs: Number(delayMs) }) : productActor);
