/**
 * The order actor as a process: `bun run actors/order/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (docs/guide/configuration.md).
 */
import { runActor } from "troupe";
import { orderActor } from "./actor.ts";

await runActor(orderActor);
