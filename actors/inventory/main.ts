/**
 * The inventory actor as a process: `bun run actors/inventory/main.ts` (or `deno run -A …`,
 * `node …`). Connection and drain settings come from the environment (runtime/cli/run-actor.ts).
 */
import { runActor } from "../../runtime/mod.ts";
import { inventoryActor } from "./actor.ts";

await runActor(inventoryActor);
