/**
 * The cart actor as a process: `bun run actors/cart/main.ts` (or `deno run -A …`, `node …`).
 * CART_ABANDONED_AFTER_MS (default 86400000, 24 hours) is how long a cart stays non-empty and
 * unchanged before its customer gets a reminder mail. Connection and drain settings come from
 * the environment (docs/guide/configuration.md).
 */
import { readEnv, runActor } from "troupe";
import { createCartActor } from "./actor.ts";

const abandonedAfterMs = readEnv("CART_ABANDONED_AFTER_MS");
await runActor(
  createCartActor(abandonedAfterMs === undefined ? {} : { abandonedAfterMs: Number(abandonedAfterMs) }),
);
