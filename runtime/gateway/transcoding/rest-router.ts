/**
 * Finds the REST route of a request. Deterministic: among the routes whose template matches the
 * path, the one that matches each segment most specifically wins (a literal beats `*` and `{var}`,
 * which beat `**`, compared from the first segment on), then a route with a custom verb, then
 * the earlier declared one. Routes of one shape and method are refused by `restRoutes`, so the
 * last rule only orders different shapes that rank alike.
 */

import { compareRanks, decodeVariables, type MatchRank, matchTemplate, splitPath } from "./path-template.ts";
import type { RestRoute } from "./rest-routes.ts";

export type RestMatch =
  /** The route and its decoded path variables, by field path (`book.name`). */
  | { readonly route: RestRoute; readonly vars: Record<string, string> }
  /** The path exists but not for this method: answer 405 with `Allow: <allowed>`. */
  | { readonly allowed: readonly string[] };

export interface RestRouter {
  /**
   * `path` is the URL path as received (percent-encoded, no query string). Returns undefined
   * when no route has this path (404). Throws `invalid_argument` when the chosen route's path
   * variable is malformed (bad percent-encoding, or a `/` decoded into a one-segment variable).
   */
  match(httpMethod: string, path: string): RestMatch | undefined;
}

export function createRestRouter(routes: readonly RestRoute[]): RestRouter {
  const table = [...routes];
  return {
    match(httpMethod, path) {
      const segments = splitPath(path);
      if (segments === undefined) return undefined;
      const wanted = httpMethod.toUpperCase();
      let best: { route: RestRoute; rank: MatchRank; segments: readonly string[] } | undefined;
      const allowed = new Set<string>();
      for (const route of table) {
        const m = matchTemplate(route.path, segments);
        if (m === undefined) continue;
        allowed.add(route.httpMethod);
        if (route.httpMethod !== wanted) continue;
        if (best === undefined || isBetter(m.rank, route, best.rank, best.route)) {
          best = { route, rank: m.rank, segments: m.segments };
        }
      }
      if (best !== undefined)
        return { route: best.route, vars: decodeVariables(best.route.path, best.segments) };
      if (allowed.size > 0) return { allowed: [...allowed].sort() };
      return undefined;
    },
  };
}

function isBetter(rank: MatchRank, route: RestRoute, bestRank: MatchRank, bestRoute: RestRoute): boolean {
  const byRank = compareRanks(rank, bestRank);
  if (byRank !== 0) return byRank > 0;
  // A verb is one more literal to match: `/v1/{id}:cancel` is more specific than `/v1/{id}`.
  return route.path.verb !== undefined && bestRoute.path.verb === undefined;
}
