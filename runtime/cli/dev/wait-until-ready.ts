/**
 * Readiness of `troupe dev`: every started actor answers `$SRV.PING.<name>` (NATS ADR-32, the
 * name being its folder and `defineActor` name), and the gateway's `/readyz` answers 200. ADR-32
 * announces nothing when an instance joins, so both are asked again until they answer or the
 * time is up.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { pingServices } from "../../discovery/discover.ts";

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Rejects when waiting makes no sense any more (a process exited, Ctrl-C); ends the wait. */
  readonly abandon: Promise<never>;
}

const RETRY_MS = 150;

/** Resolves once every name in `names` has an instance answering `$SRV.PING`. */
export async function waitUntilDiscoverable(
  nc: NatsConnection,
  names: readonly string[],
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const pings = await Promise.race([pingServices(nc, { timeoutMs: 500, stallMs: 100 }), options.abandon]);
    const seen = new Set(pings.map((ping) => ping.name));
    const missing = names.filter((name) => !seen.has(name));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `not discoverable through $SRV.PING within ${options.timeoutMs} ms: ${missing.join(", ")}`,
      );
    }
    await Promise.race([pause(RETRY_MS), options.abandon]);
  }
}

/** Resolves once `GET <url>/readyz` answers 200; the error names the last answer. */
export async function waitUntilGatewayReady(url: string, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "no answer";
  for (;;) {
    try {
      const res = await Promise.race([fetch(`${url}/readyz`), options.abandon]);
      const body = await res.text();
      if (res.ok) return;
      last = `${res.status} ${body.slice(0, 300)}`;
    } catch (err) {
      if (err instanceof AbandonedError) throw err;
      last = String(err);
    }
    if (Date.now() > deadline)
      throw new Error(`${url}/readyz did not answer 200 within ${options.timeoutMs} ms: ${last}`);
    await Promise.race([pause(RETRY_MS), options.abandon]);
  }
}

/** Why a wait was abandoned: `troupe dev` reports the reason itself. */
export class AbandonedError extends Error {
  override name = "AbandonedError";
}

/** Resolves after `ms`: the interval between two readiness probes. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
