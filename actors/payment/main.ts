/**
 * The payment actor as a process: `bun run actors/payment/main.ts` (or `deno run -A …`,
 * `node …`). Connection and drain settings come from the environment (docs/guide/configuration.md).
 */
import { runActor } from "troupe";
import { paymentActor } from "./actor.ts";

await runActor(paymentActor);
