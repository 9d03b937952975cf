/**
 * The user actor as a process: `bun run actors/user/main.ts` (or `deno run -A …`, `node …`).
 * Connection and drain settings come from the environment (runtime/cli/run-actor.ts).
 */
import { runActor } from "../../runtime/mod.ts";
import { userActor } from "./actor.ts";

await runActor(userActor);
