/**
 * Page tokens of list methods (`pageCursor`, troupe/host): the first page has no cursor, a token
 * names the last key served and comes back as the cursor of the next page, and a token that this
 * method did not issue, or issued for another filter, is `invalid_argument` naming page_token.
 * The shop's ListProducts uses them over NATS (tests/portable/shop-user-product.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { pageCursor } from "troupe/host";

const FILTER = { query: "boots", includeInactive: false };

function refusal(token: string, filter: typeof FILTER = FILTER): ConnectError {
  try {
    pageCursor(token, filter);
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail(`"${token}" was taken`);
}

test("the first page has no cursor; a token carries the last key to the next page", () => {
  const first = pageCursor("", FILTER);
  assert.equal(first.after, undefined);
  const token = first.next("p-1007");
  assert.match(token, /^[A-Za-z0-9_-]+$/, "safe in a URL query, no padding");
  assert.equal(pageCursor(token, { ...FILTER }).after, "p-1007", "an equal filter, another object");
  assert.equal(pageCursor(pageCursor(token, FILTER).next("p-1010"), FILTER).after, "p-1010");
});

test("a token is good only for the filter it was issued for", () => {
  const token = pageCursor("", FILTER).next("p-1");
  for (const other of [
    { ...FILTER, query: "boot" },
    { ...FILTER, includeInactive: true },
  ]) {
    const error = refusal(token, other);
    assert.equal(error.code, Code.InvalidArgument);
    assert.match(error.rawMessage, /^page_token was issued for a different request/);
  }
});

test("a token this method did not issue is refused", () => {
  const forged = (value: unknown) => base64Encode(new TextEncoder().encode(JSON.stringify(value)), "url");
  for (const token of [
    "not a token",
    "%%%",
    "e30", // {}
    forged({ v: 2, a: "p-1", f: JSON.stringify(FILTER) }),
    forged({ v: 1, a: "", f: JSON.stringify(FILTER) }),
    forged({ v: 1, a: 7, f: JSON.stringify(FILTER) }),
    forged([1, 2]),
    base64Encode(new Uint8Array([0xff, 0xfe]), "url"), // not UTF-8
  ]) {
    const error = refusal(token);
    assert.equal(error.code, Code.InvalidArgument, token);
    assert.match(error.rawMessage, /^page_token is not a token this service issued/, token);
  }
});
