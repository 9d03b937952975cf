/**
 * Page tokens of list methods (https://google.aip.dev/158): opaque to callers, checked when they
 * come back. A token names the sort key of the last item of the page it follows, so a list in
 * key order stays stable while items are added, and the filter it was issued for (whatever the
 * request's other fields select, as JSON), so a token used with another filter is refused rather
 * than silently skipping items. Both refusals are `invalid_argument` naming `page_token`.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

/** Where a page starts, and how to name the page after it. */
export interface PageCursor {
  /** Sort key of the last item of the previous page; undefined for the first page (no token). */
  readonly after: string | undefined;
  /** The `next_page_token` of a page whose last item has the sort key `last`. */
  next(last: string): string;
}

const VERSION = 1;
const TOKEN = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The cursor of a list request: `token` is its `page_token` ("" for the first page), `filter`
 * what its other fields select, normalised as the method compares them (the same filter must
 * give the same JSON). Throws `invalid_argument` for a token this method did not issue, or one
 * issued for another filter.
 */
export function pageCursor(token: string, filter: JsonValue): PageCursor {
  const bound = JSON.stringify(filter);
  const next = (last: string) =>
    base64Encode(encoder.encode(JSON.stringify({ v: VERSION, a: last, f: bound })), "url");
  if (token === "") return { after: undefined, next };
  const cursor = parse(token);
  if (cursor === undefined) {
    throw new ConnectError(
      "page_token is not a token this service issued: pass next_page_token from the previous page",
      Code.InvalidArgument,
    );
  }
  if (cursor.f !== bound) {
    throw new ConnectError(
      "page_token was issued for a different request: keep the other fields as on the first page",
      Code.InvalidArgument,
    );
  }
  return { after: cursor.a, next };
}

function parse(token: string): { a: string; f: string } | undefined {
  if (!TOKEN.test(token)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(base64Decode(token)));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { v, a, f } = value as Record<string, unknown>;
  if (v !== VERSION || typeof a !== "string" || a === "" || typeof f !== "string") return undefined;
  return { a, f };
}
