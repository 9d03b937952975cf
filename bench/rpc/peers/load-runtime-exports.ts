/**
 * For the Troupe plugs: loads runtime/mod.ts and checks that it exports the named functions.
 * A runtime that does not load yet, or lacks a name, makes the peer "not available" (a
 * PeerUnavailableError naming what is missing) rather than failing the benchmark run.
 */
import { PeerUnavailableError } from "../peer-unavailable.ts";

export async function loadRuntimeExports(
  names: readonly string[],
  plug: string,
): Promise<Record<string, unknown>> {
  let runtime: Record<string, unknown>;
  try {
    runtime = await import("../../../runtime/mod.ts");
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new PeerUnavailableError(`runtime/mod.ts does not load (${why}); needed by ${plug}`);
  }
  const missing = names.filter((name) => typeof runtime[name] !== "function");
  if (missing.length > 0) {
    throw new PeerUnavailableError(
      `runtime/mod.ts does not export ${missing.join(", ")} yet; needed by ${plug}`,
    );
  }
  return runtime;
}
