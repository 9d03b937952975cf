/**
 * The user actor as a process: `bun run actors/user/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (docs/guide/configuration.md).
 */
import { runActor } from "troupe";
import { userActor } from "./actor.ts";

await runActor(userActor);
