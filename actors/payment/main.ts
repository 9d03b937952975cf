/**
 * The payment actor as a process: `bun run actors/payment/main.ts` (or `deno run -A …`,
 * `node …`). Connection and drain settings come from the environment (runtime/cli/run-actor.ts).
 */
import { runActor } from "../../runtime/mod.ts";
import { paymentActor } from "./actor.ts";

await runActor(paymentActor);
