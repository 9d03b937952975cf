/**
 * The request id a caller sent, when it is well-formed: the rule of Hono's request-id
 * middleware (word characters, `-` and `=`, at most 255 characters), so gRPC calls, which do not
 * pass through Hono, accept the same ids.
 */
const MAX_LENGTH = 255;
const INVALID = /[^\w\-=]/;

export function validRequestId(value: string | null | undefined): string | undefined {
  if (
    value === null ||
    value === undefined ||
    value === "" ||
    value.length > MAX_LENGTH ||
    INVALID.test(value)
  ) {
    return undefined;
  }
  return value;
}
