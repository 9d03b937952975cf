/**
 * The billing actor as a process: `bun run actors/billing/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (runtime/cli/run-actor.ts).
 */
import { runActor } from "../../runtime/mod.ts";
import { billingActor } from "./actor.ts";

await runActor(billingActor);
