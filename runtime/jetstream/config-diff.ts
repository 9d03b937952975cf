/**
 * Compares a declared JetStream configuration with the one the server holds, field by field, for
 * reconciliation (declare-streams.ts, declare-consumers.ts). Only the fields a declaration sets
 * are compared: the server fills in the rest with its defaults.
 */

/** A declared field whose value differs on the server. */
export interface FieldChange {
  readonly field: string;
  readonly declared: unknown;
  readonly current: unknown;
}

export function changedFields(declared: object, current: object): FieldChange[] {
  const want = declared as Record<string, unknown>;
  const have = current as Record<string, unknown>;
  const changes: FieldChange[] = [];
  for (const field of Object.keys(want)) {
    const value = want[field];
    if (value === undefined) continue;
    if (!sameValue(value, have[field])) changes.push({ field, declared: value, current: have[field] });
  }
  return changes;
}

function sameValue(declared: unknown, current: unknown): boolean {
  if (isZero(declared) && isZero(current)) return true; // the server leaves out zero values
  if (Array.isArray(declared)) {
    if (!Array.isArray(current) || current.length !== declared.length) return false;
    // Subject lists are sets.
    const sorted = (a: unknown[]) => a.map((v) => JSON.stringify(v)).sort();
    return sorted(declared).join("\n") === sorted(current).join("\n");
  }
  if (typeof declared === "object" && declared !== null) {
    // Objects (metadata, placement) are compared on the declared keys: the server adds its own
    // (`_nats.*` metadata).
    if (typeof current !== "object" || current === null) return false;
    return changedFields(declared, current).length === 0;
  }
  return declared === current;
}

function isZero(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value === false ||
    value === 0 ||
    value === "" ||
    (Array.isArray(value) && value.length === 0)
  );
}

/** `"a"` for strings, JSON for the rest: how a value reads in an error message. */
export function show(value: unknown): string {
  return value === undefined ? "(unset)" : JSON.stringify(value);
}
