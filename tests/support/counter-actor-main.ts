/**
 * The keyed counter as a process (tests/portable/keyed-actors.test.ts): NATS_URL from the
 * environment; KEYED_LEASE_MS and KEYED_RENEW_MS set its placement's timing.
 */
import { runActor } from "troupe";
import { createCounterActor } from "./counter-actor.ts";

const env = (name: string) => {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : Number(value);
};
const leaseMs = env("KEYED_LEASE_MS");
const renewMs = env("KEYED_RENEW_MS");
await runActor(
  createCounterActor({
    ...(leaseMs === undefined ? {} : { leaseMs }),
    ...(renewMs === undefined ? {} : { renewMs }),
  }),
);
