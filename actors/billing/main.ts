/**
 * The billing actor as a process: `bun run actors/billing/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (docs/guide/configuration.md).
 */
import { runActor } from "troupe";
import { billingActor } from "./actor.ts";

await runActor(billingActor);
