/**
 * The inventory actor as a process: `bun run actors/inventory/main.ts` (or `deno run -A …`,
 * `node …`). Connection and drain settings come from the environment (docs/guide/configuration.md).
 */
import { runActor } from "troupe";
import { inventoryActor } from "./actor.ts";

await runActor(inventoryActor);
