/**
 * The fault-injection actor as a process (tests/integration/resilience-*.test.ts):
 * `bun run tests/support/fault-actor-main.ts`, NATS_URL from the environment. A call with
 * `crash` ends the process at once, without answering.
 */
import { runActor } from "troupe";
import { exitProcess } from "../../runtime/platform/shutdown-signals.ts";
import { createFaultActor, createFaultProbe } from "./fault-actor.ts";

await runActor(createFaultActor({ name: "fault", probe: createFaultProbe(), crash: () => exitProcess(1) }));
