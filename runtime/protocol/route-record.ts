/**
 * A routing record: how a caller splits the calls of one proto service between its versions
 * (docs/adr/0012-discovery-direct-calls-and-traffic.md). Stored as JSON, one record per service
 * in the `troupe_routes` KV bucket under the service's type name, so an operator can write one
 * with the stock CLI:
 *
 *   nats kv put troupe_routes shop.v1.PaymentService '{"weights":{"1.0.0":90,"1.1.0":10}}'
 *
 * Weights are relative (90/10 and 9/1 split alike); a version of weight 0 gets no calls. The
 * record is checked strictly (unknown fields too) so that a typo is reported, not half-applied.
 */
import { versionToken } from "./subjects.ts";

/** The record as written: version → relative weight. */
export interface RouteRecord {
  readonly weights: Readonly<Record<string, number>>;
}

/** A checked record, ready for picking: versions with their cumulative weights. */
export interface ServiceRoute {
  readonly record: RouteRecord;
  readonly versions: readonly string[];
  /** `cumulative[i]` = the sum of the weights of versions 0..i; the last is the total. */
  readonly cumulative: readonly number[];
}

/** What callers route by: the route of a proto service (`shop.v1.PaymentService`), if any. */
export interface RouteTable {
  routeOf(serviceTypeName: string): ServiceRoute | undefined;
}

/** Checks a record and prepares it; throws an Error that says what is wrong. */
export function compileRoute(record: unknown): ServiceRoute {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new Error('a routing record is a JSON object: {"weights":{"<version>":<weight>,…}}');
  }
  for (const key of Object.keys(record)) {
    if (key !== "weights") throw new Error(`a routing record has no field "${key}" (only "weights")`);
  }
  const weights = (record as { weights?: unknown }).weights;
  if (typeof weights !== "object" || weights === null || Array.isArray(weights)) {
    throw new Error('"weights" must be an object of version → weight');
  }
  const versions: string[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const [version, weight] of Object.entries(weights)) {
    versionToken(version); // throws for a version that cannot be a subject token
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) {
      throw new Error(
        `the weight of version "${version}" must be a number >= 0, got ${JSON.stringify(weight)}`,
      );
    }
    if (weight === 0) continue;
    total += weight;
    versions.push(version);
    cumulative.push(total);
  }
  if (total === 0) throw new Error("a routing record needs at least one version of weight > 0");
  return { record: { weights: { ...(weights as Record<string, number>) } }, versions, cumulative };
}

/** Parses and checks a stored record (UTF-8 JSON). */
export function decodeRoute(bytes: Uint8Array): ServiceRoute {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new Error(`a routing record must be JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return compileRoute(json);
}

export function encodeRoute(record: RouteRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ weights: record.weights }));
}

/** The version a call goes to, for `random` uniform in [0, 1): each with probability weight/total. */
export function pickVersion(route: ServiceRoute, random: number = Math.random()): string {
  const { versions, cumulative } = route;
  const x = random * (cumulative[cumulative.length - 1] ?? 0);
  // Few versions per service: a linear scan beats a binary search.
  for (let i = 0; i < cumulative.length - 1; i++) if (x < (cumulative[i] ?? 0)) return versions[i] ?? "";
  return versions[versions.length - 1] ?? "";
}
