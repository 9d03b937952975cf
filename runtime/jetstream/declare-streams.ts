/**
 * The streams of docs/adr/0007-events-queues-and-dead-letters.md, declared in code and reconciled
 * at start: created when missing, updated in place when a mutable field changed, and refused,
 * naming the field, when JetStream could only apply the change by recreating the stream (a
 * destructive migration). A field newer than the connected server is refused too, naming the
 * version it needs (server-features.ts).
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { ServerVersion } from "../protocol/server-version.ts";
import {
  deadLetterFilter,
  deadLetterStreamName,
  eventPackageFilter,
  eventStreamName,
  jobStreamName,
  jobSubject,
} from "../protocol/subjects.ts";
import { changedFields, type FieldChange, show } from "./config-diff.ts";
import { isStreamNameInUse, isStreamNotFound, isTransientDeclarationError } from "./jetstream-errors.ts";
import { assertServerSupports, STREAM_FEATURES } from "./server-features.ts";

/** A stream declaration: JetStream's own config; unset fields keep the server's defaults. */
export type StreamSpec = Readonly<Partial<StreamConfig>> & { readonly name: string };

/**
 * How long one declaration request at start (a stream, a consumer, a KV bucket) waits for
 * JetStream's answer, and how long an actor keeps asking again (`retryDeclaration`) before its
 * start fails. Longer than a call's: on a cluster a new R3 stream waits for its replicas to elect
 * a leader, which takes seconds on a busy machine, and a request made meanwhile can go
 * unanswered; asked again, it is answered.
 */
export const DECLARATION_TIMEOUT_MS = 10_000;
export const DECLARATION_BUDGET_MS = 60_000;

/**
 * Runs one idempotent declaration step, again (after 0.25, 0.5, 1, 2 … s) while it fails with a
 * transient JetStream error (isTransientDeclarationError), until `budgetMs` has passed; then,
 * or for any other error, it throws that error.
 */
export async function retryDeclaration<T>(
  step: () => Promise<T>,
  budgetMs = DECLARATION_BUDGET_MS,
): Promise<T> {
  const until = Date.now() + budgetMs;
  for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4_000)) {
    try {
      return await step();
    } catch (err) {
      if (!isTransientDeclarationError(err) || Date.now() + delayMs >= until) throw err;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

export interface StreamOptions {
  /** Prefix of subjects and stream names, for several systems in one NATS account. */
  readonly namespace: string;
  /** Copies of each message in a cluster (1–5); an actor's default is its connection's (default-replicas.ts). */
  readonly replicas: number;
  /** Messages older than this are removed; 0 keeps them until other limits apply. */
  readonly maxAgeMs: number;
  /** File storage survives restarts; memory storage is for throw-away systems only. */
  readonly storage: StorageType;
}

export const defaultStreamOptions: StreamOptions = {
  namespace: "",
  replicas: 1,
  maxAgeMs: 0,
  storage: StorageType.File,
};

/** How long a stream remembers message ids to drop republished ones. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

/** `EVT_<package>`: every event of one proto package, kept by limits (each service reads it all). */
export function eventStream(protoPackage: string, partial: Partial<StreamOptions> = {}): StreamSpec {
  const options = resolve(partial);
  return {
    name: eventStreamName(protoPackage, options.namespace),
    description: `Troupe events of ${protoPackage}`,
    subjects: [eventPackageFilter(protoPackage, options.namespace)],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    ...common(options),
  };
}

/** `JOB_<package>_<Message>`: a work queue; a job is removed once one consumer acknowledged it. */
export function jobStream(message: DescMessage, partial: Partial<StreamOptions> = {}): StreamSpec {
  const options = resolve(partial);
  return {
    name: jobStreamName(message, options.namespace),
    description: `Troupe work queue of ${message.typeName}`,
    subjects: [jobSubject(message, options.namespace)],
    retention: RetentionPolicy.Workqueue,
    // A full queue refuses new jobs rather than dropping waiting ones.
    discard: DiscardPolicy.New,
    ...common(options),
  };
}

/** `DLQ`: dead letters of every consumer, read by sequence for listing (direct get). */
export function deadLetterStream(partial: Partial<StreamOptions> = {}): StreamSpec {
  const options = resolve(partial);
  return {
    name: deadLetterStreamName(options.namespace),
    description: "Troupe dead letters",
    subjects: [deadLetterFilter(options.namespace)],
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    allow_direct: true,
    ...common(options),
  };
}

function resolve(partial: Partial<StreamOptions>): StreamOptions {
  const options = { ...defaultStreamOptions, ...partial };
  if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > 5) {
    throw new Error(`stream replicas must be 1 to 5, got ${options.replicas}`);
  }
  if (!(options.maxAgeMs >= 0)) throw new Error(`stream maxAgeMs must be >= 0, got ${options.maxAgeMs}`);
  return options;
}

function common(options: StreamOptions) {
  // The duplicate window may not be longer than the stream keeps messages.
  const windowMs =
    options.maxAgeMs > 0 ? Math.min(DUPLICATE_WINDOW_MS, options.maxAgeMs) : DUPLICATE_WINDOW_MS;
  return {
    storage: options.storage,
    num_replicas: options.replicas,
    max_age: nanos(options.maxAgeMs),
    duplicate_window: nanos(windowMs),
  };
}

/** What reconciliation did to one stream or consumer. */
export interface ReconcileResult {
  readonly name: string;
  readonly action: "created" | "updated" | "unchanged";
  /** The fields an update changed. */
  readonly changed: readonly string[];
}

/**
 * Creates each missing stream and updates each whose mutable fields differ; refuses, before
 * changing anything, a declaration that needs a destructive migration or a newer server.
 * `server` is the connected server's version (`nc.info.version`).
 */
export async function reconcileStreams(
  jsm: JetStreamManager,
  server: ServerVersion | string,
  specs: readonly StreamSpec[],
): Promise<ReconcileResult[]> {
  for (const spec of specs) assertServerSupports(STREAM_FEATURES, `stream ${spec.name}`, spec, server);
  const results: ReconcileResult[] = [];
  for (const spec of unique(specs)) results.push(await retryDeclaration(() => reconcileStream(jsm, spec)));
  return results;
}

async function reconcileStream(
  jsm: JetStreamManager,
  spec: StreamSpec,
  retried = false,
): Promise<ReconcileResult> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(spec.name)).config;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
    try {
      await jsm.streams.add({ ...spec });
      return { name: spec.name, action: "created", changed: [] };
    } catch (addErr) {
      // Another instance created it between our look and our create: reconcile against theirs.
      if (isStreamNameInUse(addErr) && !retried) return reconcileStream(jsm, spec, true);
      throw addErr;
    }
  }
  const changes = changedFields(spec, current);
  if (changes.length === 0) return { name: spec.name, action: "unchanged", changed: [] };
  for (const change of changes) {
    const why = destructive(change);
    if (why !== undefined) {
      throw new ConnectError(
        `stream ${spec.name}: ${change.field} is ${show(change.current)} on the server but declared ` +
          `${show(change.declared)}; ${why}, so this needs a destructive migration ` +
          "(recreate the stream and move its messages) and is refused",
        Code.FailedPrecondition,
      );
    }
  }
  const { name: _, ...update } = spec;
  await jsm.streams.update(spec.name, update);
  return { name: spec.name, action: "updated", changed: changes.map((c) => c.field) };
}

/** Why JetStream cannot apply a stream change in place; undefined when it can. */
function destructive({ field, declared, current }: FieldChange): string | undefined {
  switch (field) {
    case "storage":
    case "max_consumers":
    case "mirror":
    case "persist_mode":
    case "allow_msg_counter":
    case "first_seq":
      return `JetStream cannot change a stream's ${field}`;
    case "retention":
      // Limits and interest convert into each other; a work queue is one for good.
      return declared === RetentionPolicy.Workqueue || current === RetentionPolicy.Workqueue
        ? "JetStream cannot change retention to or from a work queue"
        : undefined;
    case "sealed":
    case "deny_delete":
    case "deny_purge":
    case "allow_msg_ttl":
      return current === true && declared !== true ? `JetStream cannot turn ${field} off once on` : undefined;
    default:
      return undefined;
  }
}

/** Specs by name; two declarations of one stream must agree. */
function unique(specs: readonly StreamSpec[]): StreamSpec[] {
  const byName = new Map<string, StreamSpec>();
  for (const spec of specs) {
    const seen = byName.get(spec.name);
    if (seen === undefined) {
      byName.set(spec.name, spec);
      continue;
    }
    const conflicts = changedFields(spec, seen);
    if (conflicts.length > 0) {
      throw new ConnectError(
        `stream ${spec.name} is declared twice with different ${conflicts.map((c) => c.field).join(", ")}`,
        Code.FailedPrecondition,
      );
    }
  }
  return [...byName.values()];
}
