/**
 * NATS subject patterns as `troupe tail` needs them: valid tokens, `*` for one token, `>` for
 * the rest (https://docs.nats.io/nats-concepts/subjects#wildcards).
 */
import { UsageError } from "../command.ts";

/** Throws a UsageError unless `pattern` is a subject or a subject pattern. */
export function assertPattern(pattern: string): string {
  const tokens = pattern.split(".");
  const bad = tokens.findIndex(
    (t, i) =>
      t === "" ||
      /\s/.test(t) ||
      (t.includes(">") && (t !== ">" || i !== tokens.length - 1)) ||
      (t.includes("*") && t !== "*"),
  );
  if (bad !== -1) {
    throw new UsageError(
      `"${pattern}" is not a subject pattern (tokens separated by dots; * is one token, > the rest, last)`,
    );
  }
  return pattern;
}

/** Every subject `inner` matches is matched by `outer`. */
export function isSubsetOf(inner: string, outer: string): boolean {
  const a = inner.split(".");
  const b = outer.split(".");
  for (let i = 0; i < b.length; i++) {
    const o = b[i];
    const t = a[i];
    if (o === ">") return t !== undefined;
    if (t === undefined) return false;
    if (t === ">") return false;
    if (o !== "*" && (t === "*" || t !== o)) return false;
  }
  return a.length === b.length;
}

/** Some subject matches both patterns. */
export function overlaps(one: string, other: string): boolean {
  const a = one.split(".");
  const b = other.split(".");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === ">" || y === ">") return x !== undefined && y !== undefined;
    if (x === undefined || y === undefined) return false;
    if (x !== "*" && y !== "*" && x !== y) return false;
  }
  return true;
}
