/**
 * The product actor as a process: `bun run actors/product/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (docs/guide/configuration.md).
 */
import { runActor } from "troupe";
import { productActor } from "./actor.ts";

await runActor(productActor);
