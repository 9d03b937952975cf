/**
 * ListProducts page tokens: opaque to callers, and checked when they come back. A token names
 * the last id of the page it follows (the list is ordered by id, so a page stays stable while
 * products are added) and the filter it was issued for, so that a token used with a different
 * query is refused rather than silently skipping products.
 */

import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

/** What a page token remembers. */
export interface PageCursor {
  /** Id of the last product of the previous page. */
  readonly after: string;
  /** The query and include_inactive the first page was asked with. */
  readonly query: string;
  readonly includeInactive: boolean;
}

const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodePageToken(cursor: PageCursor): string {
  const json = JSON.stringify({ v: VERSION, a: cursor.after, q: cursor.query, i: cursor.includeInactive });
  return base64Encode(encoder.encode(json), "url");
}

/**
 * The cursor of `token`, checked against the request it came with. Throws `invalid_argument`
 * for a token this service did not issue, or one issued for a different filter.
 */
export function decodePageToken(token: string, query: string, includeInactive: boolean): PageCursor {
  const cursor = parse(token);
  if (cursor === undefined) {
    throw new ConnectError(
      "page_token is not a token this service issued: pass next_page_token from the previous page",
      Code.InvalidArgument,
    );
  }
  if (cursor.query !== query || cursor.includeInactive !== includeInactive) {
    throw new ConnectError(
      "page_token was issued for a different query or include_inactive: keep them as on the first page",
      Code.InvalidArgument,
    );
  }
  return cursor;
}

function parse(token: string): PageCursor | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(base64Decode(token)));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { v, a, q, i } = value as Record<string, unknown>;
  if (v !== VERSION || typeof a !== "string" || a === "" || typeof q !== "string" || typeof i !== "boolean") {
    return undefined;
  }
  return { after: a, query: q, includeInactive: i };
}
