/**
 * The product actor as a process whose reads answer PRODUCT_DELAY_MS late (slowed-services.ts):
 * `bun run tests/support/slow-product-main.ts`, for tests/integration/actor-lifecycle.test.ts,
 * which holds a call in flight while the process drains.
 */
import { runActor } from "troupe";
import { productActor } from "../../actors/product/actor.ts";
import { slowed } from "./slowed-services.ts";

await runActor(slowed(productActor, Number(process.env.PRODUCT_DELAY_MS ?? 0)));
