/**
 * What a Troupe process declares it does on the bus, as data: the JSON an actor prints when asked
 * (`TROUPE_PRINT_DECLARATION=1`), from which its NATS credentials are derived
 * (runtime/security/permissions.ts, docs/adr/0030-credentials-from-declarations.md). Types are
 * full protobuf names; nothing declared, nothing allowed.
 */

export interface ProcessDeclaration {
  /** The process's name: the actor's (its discovery name and queue group), or `gateway`. */
  readonly name: string;
  readonly version: string;
  /** Full names of the services it serves: `shop.v1.OrderService`. */
  readonly serves: readonly string[];
  /**
   * Full names of the services it serves that are keyed (docs/adr/0032-keyed-virtual-actors.md):
   * their instances hold partition leases, forward calls to each other and keep reminders.
   */
  readonly keyed?: readonly string[];
  /** Full names of the services it calls. */
  readonly calls: readonly string[];
  /**
   * When set, the only methods it calls (`shop.v1.UserService.GetUser`), instead of every method
   * of `calls`: the gateway calls the public methods alone.
   */
  readonly callsMethods?: readonly string[];
  /** Full names of the message types it publishes as events and enqueues as jobs. */
  readonly publishes: { readonly events: readonly string[]; readonly jobs: readonly string[] };
  /** Full names of the event and job types it handles. */
  readonly consumes: { readonly events: readonly string[]; readonly jobs: readonly string[] };
  /** Its state buckets, as `ctx.state` names them (without the namespace). */
  readonly state: readonly string[];
}

/** The environment variable that makes a Troupe process print its declaration and exit. */
export const PRINT_DECLARATION_ENV = "TROUPE_PRINT_DECLARATION";

/** Reads a printed declaration; throws an Error saying what is wrong. */
export function parseDeclaration(text: string, from: string): ProcessDeclaration {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${from} printed no declaration (expected one JSON line): ${text.slice(0, 200)}`);
  }
  const object = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
  const kinds = (v: unknown) => object(v) && strings(v.events) && strings(v.jobs);
  if (
    !object(value) ||
    typeof value.name !== "string" ||
    typeof value.version !== "string" ||
    !strings(value.serves) ||
    !strings(value.calls) ||
    (value.keyed !== undefined && !strings(value.keyed)) ||
    (value.callsMethods !== undefined && !strings(value.callsMethods)) ||
    !kinds(value.publishes) ||
    !kinds(value.consumes) ||
    !strings(value.state)
  ) {
    throw new Error(`${from} printed a malformed declaration: ${text.slice(0, 200)}`);
  }
  return value as unknown as ProcessDeclaration;
}
