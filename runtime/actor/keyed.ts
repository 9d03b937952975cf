/**
 * Keyed virtual actors (docs/adr/0032-keyed-virtual-actors.md): one activation per key, one turn
 * at a time per key, durable state, timers. `keyed(CartService, {…})` declares the handlers;
 * `serveActor` builds the host below for it: the Connect implementation its instances serve,
 * and the placement (placement.ts) that decides which instance owns which partition of keys.
 *
 * A call's way: the caller's transport sends it to the subject of the key's partition
 * (runtime/protocol/partitions.ts), which only the owner subscribes to. The owner queues it in
 * the key's mailbox; its turn loads the state if the actor is not active, runs the handler with
 * the state, and, if the state changed, writes it back revision-checked (under the lease it
 * holds) before the answer leaves. A call that reached another subject (a caller that does not
 * know the service is keyed, such as `nats req`) is forwarded to the partition's subject.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import {
  type CallOptions,
  Code,
  ConnectError,
  createClient,
  type HandlerContext,
  type Transport,
} from "@connectrpc/connect";
import { type Msg, type NatsConnection, RequestError, type Subscription } from "@nats-io/nats-core";
import {
  type ActorRecordSchema,
  type AppliedCall,
  AppliedCallSchema,
  PartitionMovedSchema,
  ReminderTurnSchema,
} from "../gen/troupe/v1/keyed_pb.ts";
import { replyError } from "../host/reply.ts";
import type { ServiceHost, ServiceRegistration } from "../host/serve-services.ts";
import type { RunningConsumer } from "../jetstream/consume.ts";
import {
  consumeReminders,
  type FiredReminder,
  openReminders,
  type Reminders,
} from "../jetstream/reminders.ts";
import { isStateKey } from "../jetstream/state-keys.ts";
import type { StateStore } from "../jetstream/state-store.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import { snapshotAsyncContext } from "../platform/async-context.ts";
import { toConnectError } from "../protocol/errors.ts";
import { Header } from "../protocol/headers.ts";
import {
  checkActorKey,
  type KeyedContract,
  keyedContractOf,
  partitionOf,
  partitionOfSubject,
  REMINDER_METHOD,
  rpcPartitionWildcard,
  rpcReminderSubject,
} from "../protocol/partitions.ts";
import { methodNameOf, rpcServiceSubject } from "../protocol/subjects.ts";
import { runOutsideCallScope } from "../resilience/call-scope.ts";
import { defaultPlacementTiming, type Placement, type ReleaseReason, startPlacement } from "./placement.ts";

/** What a handler of a keyed actor gets besides the request: its key, its state, its tools. */
export interface Turn<State extends DescMessage> {
  /** The actor's key: the request's key field. */
  readonly key: string;
  /**
   * The actor's state: change it in place or assign a new message. If it differs from what was
   * stored when the turn ends, it is written back before the reply leaves; a handler that throws
   * changes nothing after its last `save()`. A state equal to the empty message deletes the
   * stored value.
   */
  state: MessageShape<State>;
  /**
   * Writes the state as it is now, before the turn ends, under the same checks as the write at
   * its end (the lease, the revision): what it saved stays if the handler then throws. For what
   * must be on record before a call whose outcome may stay unknown (the cart marks a checkout
   * started before it places the order). The idempotency record of the call is written only at
   * the end: a call retried with its idempotency key after a failure runs again, so what a turn
   * saves must be safe to do twice. Resolves once stored; nothing happens when nothing changed.
   */
  save(): Promise<void>;
  /** The partition of the key, and the lease epoch under which this instance owns it. */
  readonly partition: number;
  readonly epoch: number;
  /** This instance's id in discovery. */
  readonly instanceId: string;
  /** Aborted when the call's deadline passes or its caller goes away (never for a timer turn). */
  readonly signal: AbortSignal;
  /** The call's Connect context; undefined in a timer's turn. */
  readonly context: HandlerContext | undefined;
  /**
   * Runs `onTimer(name)` as a turn of this actor after `delayMs` (and then every `everyMs`, when
   * given), while the actor stays active: timers end with the activation (passivation, a move of
   * its partition, a stop) and do not keep it active. Setting a name again replaces that timer.
   */
  setTimer(name: string, delayMs: number, options?: { readonly everyMs?: number }): void;
  clearTimer(name: string): void;
  /**
   * Sets the durable reminder `name` of this actor: `onReminder` runs as a turn at `due` (a time,
   * or milliseconds from now), wherever the actor lives then, even if every instance restarted
   * meanwhile (JetStream message schedules, nats-server 2.12+). Setting a name again replaces
   * it. Resolves once stored: await it in the turn.
   */
  remind(name: string, due: Date | number, payload?: Uint8Array): Promise<void>;
  /** Cancels the reminder `name` of this actor (nothing happens when there is none). */
  forget(name: string): Promise<void>;
  /** Ends the activation after this turn (its state is stored; the next call activates it again). */
  deactivate(): void;
}

/** A reminder that came due, as `onReminder` gets it. */
export interface DueReminder {
  readonly name: string;
  /** What `remind` was given; empty without a payload. */
  readonly payload: Uint8Array;
  /** When it was due; it fires then or later, never before. */
  readonly dueAt: Date;
}

/** A keyed handler: the request and the turn in, the response out. */
export type KeyedMethodImpl<M extends DescMethod, State extends DescMessage> =
  M extends DescMethodUnary<infer I, infer O>
    ? (request: MessageShape<I>, turn: Turn<State>) => MessageInitShape<O> | Promise<MessageInitShape<O>>
    : never;

export type KeyedHandlers<S extends DescService, State extends DescMessage> = {
  [M in keyof S["method"]]?: KeyedMethodImpl<S["method"][M], State>;
};

/** How a keyed service behaves: its state, its handlers, its limits. */
export interface KeyedImplementation<S extends DescService, State extends DescMessage> {
  /** The state bucket (declared in the actor's `state`) holding each actor's state under its key. */
  readonly bucket: string;
  /** The state message type. */
  readonly state: State;
  readonly handlers: KeyedHandlers<S, State>;
  /** A timer of an activation fired (`turn.setTimer`): runs as a turn. */
  readonly onTimer?: (name: string, turn: Turn<State>) => void | Promise<void>;
  /**
   * A reminder came due (`turn.remind`): runs as a turn of its actor, activating it if needed.
   * A reminder whose turn throws is tried again later (about 1 s, doubling), and dead-lettered
   * after its last attempt, as a job is.
   */
  readonly onReminder?: (reminder: DueReminder, turn: Turn<State>) => void | Promise<void>;
  /** An actor that had no turn for this long is deactivated (its timers end). Default 5 minutes. */
  readonly idleMs?: number;
  /**
   * What each actor remembers, with its state, of the calls that changed it and carried an
   * idempotency key (docs/adr/0032-keyed-virtual-actors.md):
   * - `ttlMs`, `keys`: the keys of the last `ttlMs` (default 10 minutes), at most `keys` of them
   *   (default 4,096; the oldest go first); a retry with one of them does not run again;
   * - `replies`: the replies of the newest `replies` of them (default 64), which a retry gets
   *   again; a retry of an older one is answered `already_exists` (it was applied, its reply is
   *   no longer kept).
   * Each remembered key is written with every state change: a hot actor pays for a long memory.
   */
  readonly idempotency?: { readonly ttlMs?: number; readonly keys?: number; readonly replies?: number };
  /** Lease and renewal times of the partitions (placement.ts). Defaults 3 s and 1 s. */
  readonly placement?: { readonly leaseMs?: number; readonly renewMs?: number };
}

/** The registration `services` returns for a keyed service. */
export interface KeyedRegistration extends ServiceRegistration {
  readonly keyed: {
    readonly contract: KeyedContract;
    // biome-ignore lint/suspicious/noExplicitAny: the state type is erased in the list of registrations
    readonly implementation: KeyedImplementation<DescService, any>;
  };
}

/**
 * Declares a keyed service: `keyed(CartService, { bucket: "carts", state: CartSchema, handlers })`.
 * The service's contract must carry `option (troupe.v1.keyed) = {key_field: "…"}` and have
 * unary methods only.
 */
export function keyed<S extends DescService, State extends DescMessage>(
  service: S,
  implementation: KeyedImplementation<S, State>,
): KeyedRegistration {
  const contract = keyedContractOf(service);
  if (contract === undefined) {
    throw new Error(
      `${service.typeName} is not keyed: add option (troupe.v1.keyed) = {key_field: "…"} to the service in its contract`,
    );
  }
  const streaming = service.methods.find((m) => m.methodKind !== "unary");
  if (streaming !== undefined) {
    throw new Error(`${service.typeName}/${streaming.name}: a keyed service has unary methods only`);
  }
  return {
    service,
    implementation: {},
    keyed: { contract, implementation: implementation as KeyedImplementation<DescService, DescMessage> },
  };
}

export function isKeyedRegistration(registration: ServiceRegistration): registration is KeyedRegistration {
  return "keyed" in registration && registration.keyed !== undefined;
}

export interface KeyedHostOptions {
  readonly nc: NatsConnection;
  readonly store: StateStore<typeof ActorRecordSchema>;
  /** Calls the partition's owner, for calls that did not come on the partition's subject. */
  readonly transport: Transport;
  readonly instanceId: string;
  readonly namespace: string;
  readonly logger: Logger;
}

/** The running keyed service of one instance. */
export interface KeyedHost {
  /** What `serveServices` serves for the service. */
  readonly registration: ServiceRegistration;
  /** Joins the placement: takes partitions and subscribes to their subjects, dispatching to `host`. */
  start(host: ServiceHost): Promise<void>;
  /** Statistics for `$SRV.STATS`. */
  stats(): Record<string, unknown>;
  /** Gives every partition up (after its turns) and leaves the placement. */
  stop(): Promise<void>;
}

/** One queued turn of an actor. */
interface Task {
  readonly run: (activation: Activation) => Promise<void>;
  readonly signal: AbortSignal | undefined;
  readonly queuedAt: number;
  readonly reject: (reason: unknown) => void;
  /** Answers the call if it is still waiting shortly before its deadline. */
  expiry: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A call still waiting for its actor this long before its deadline is answered then, so that
 * the answer (naming the busy actor) reaches its caller before the caller's own timer fires.
 */
const ANSWER_BEFORE_DEADLINE_MS = 50;

interface Activation {
  readonly key: string;
  readonly stateKey: string;
  readonly partition: number;
  readonly epoch: number;
  loaded: boolean;
  state: MessageShape<DescMessage>;
  /** The state as stored (protobuf binary), to tell whether a turn changed it. */
  stored: Uint8Array;
  applied: AppliedCall[];
  /** The revision of the stored record; 0 when there is none. */
  revision: number;
  readonly mailbox: Task[];
  running: boolean;
  /** performance.now() when its last turn ended: the sweep deactivates it `idleMs` later. */
  lastTurnAt: number;
  readonly timers: Map<string, ReturnType<typeof setTimeout>>;
  /** Deactivate when the mailbox is empty (asked by a turn, or the activation went stale). */
  ending: boolean;
  closed: boolean;
}

export function createKeyedHost(registration: KeyedRegistration, options: KeyedHostOptions): KeyedHost {
  const { contract, implementation: impl } = registration.keyed;
  const { service } = contract;
  const { store, instanceId, logger } = options;
  const stateSchema = impl.state;
  const idleMs = impl.idleMs ?? 5 * 60_000;
  const keepMs = impl.idempotency?.ttlMs ?? 10 * 60_000;
  const keepKeys = impl.idempotency?.keys ?? 4_096;
  const keepReplies = impl.idempotency?.replies ?? 64;
  const activations = new Map<string, Activation>();
  /** Turns running per partition, so a release can wait for them. */
  const runningByPartition = new Map<number, Set<Promise<void>>>();
  const subscriptions = new Map<number, Subscription>();
  const counts = {
    turns: 0,
    activations: 0,
    deactivations: 0,
    forwarded: 0,
    moved: 0,
    stale: 0,
    replayed: 0,
  };
  let placement: Placement | undefined;
  let reminders: Reminders | undefined;
  let reminderConsumer: RunningConsumer | undefined;
  const remindersOf = (): Reminders => {
    if (reminders === undefined) {
      throw new Error(
        `${service.typeName}: remind and forget need an onReminder in its keyed implementation`,
      );
    }
    return reminders;
  };
  const serviceSubject = rpcServiceSubject(service, options.namespace);
  const forwarder = createClient(service, options.transport) as unknown as Record<
    string,
    (request: unknown, options?: CallOptions) => Promise<unknown>
  >;

  const moved = (partition: number) =>
    new ConnectError(
      `${service.typeName}: partition ${partition} is not served by this instance (it is moving); retry`,
      Code.Unavailable,
      undefined,
      [{ desc: PartitionMovedSchema, value: { service: service.typeName, partition } }],
    );

  const deactivate = (activation: Activation) => {
    if (activation.closed) return;
    activation.closed = true;
    for (const timer of activation.timers.values()) clearTimeout(timer);
    activation.timers.clear();
    if (activations.get(activation.key) === activation) activations.delete(activation.key);
    const stale = new ConnectError(
      `${service.typeName} actor "${activation.key}" was deactivated before this call's turn; retry`,
      Code.Unavailable,
      undefined,
      [{ desc: PartitionMovedSchema, value: { service: service.typeName, partition: activation.partition } }],
    );
    for (const task of activation.mailbox.splice(0)) {
      clearTimeout(task.expiry);
      task.reject(stale);
    }
    counts.deactivations++;
  };

  // One sweep for every activation, rather than a timer each: an active actor costs a map entry
  // and its state. An idle actor goes between `idleMs` and 1.5 × `idleMs` after its last turn.
  const sweep = () => {
    const before = performance.now() - idleMs;
    for (const activation of activations.values()) {
      if (activation.lastTurnAt <= before && !activation.running && activation.mailbox.length === 0) {
        deactivate(activation);
      }
    }
  };
  let sweeper: ReturnType<typeof setInterval> | undefined;

  const activationOf = (key: string, partition: number, epoch: number): Activation => {
    let activation = activations.get(key);
    if (activation !== undefined && activation.epoch !== epoch) {
      deactivate(activation); // the partition was given up and taken again meanwhile
      activation = undefined;
    }
    if (activation === undefined) {
      activation = {
        key,
        stateKey: stateKeyOf(key),
        partition,
        epoch,
        loaded: false,
        state: create(stateSchema),
        stored: new Uint8Array(0),
        applied: [],
        revision: 0,
        mailbox: [],
        running: false,
        lastTurnAt: performance.now(),
        timers: new Map(),
        ending: false,
        closed: false,
      };
      activations.set(key, activation);
      counts.activations++;
    }
    return activation;
  };

  const load = async (activation: Activation) => {
    const entry = await store.get(activation.stateKey);
    if (entry === undefined) {
      activation.state = create(stateSchema);
      activation.stored = new Uint8Array(0);
      activation.applied = [];
      activation.revision = 0;
    } else {
      try {
        activation.state = fromBinary(stateSchema, entry.value.state);
      } catch (err) {
        throw new ConnectError(
          `state bucket ${store.bucket}, key "${activation.stateKey}": the stored state is not a valid ${stateSchema.typeName}`,
          Code.DataLoss,
          undefined,
          undefined,
          err,
        );
      }
      activation.stored = entry.value.state;
      activation.applied = entry.value.applied;
      activation.revision = entry.revision;
    }
    activation.loaded = true;
  };

  /** Runs the mailbox's tasks one by one; one loop per activation at a time. */
  const drainMailbox = async (activation: Activation) => {
    if (activation.running) return;
    activation.running = true;
    const running = runningSet(activation.partition);
    while (activation.mailbox.length > 0 && !activation.closed) {
      const task = activation.mailbox.shift() as Task;
      clearTimeout(task.expiry);
      if (task.signal?.aborted) {
        task.reject(waitedTooLong(activation, task));
        continue;
      }
      const done = task.run(activation).catch(() => {});
      running.add(done);
      await done;
      running.delete(done);
    }
    activation.running = false;
    if (activation.ending) deactivate(activation);
    else activation.lastTurnAt = performance.now();
  };

  const waitedTooLong = (activation: Activation, task: Task) =>
    new ConnectError(
      `${service.typeName} actor "${activation.key}" was busy with other turns for ${Math.round(performance.now() - task.queuedAt)} ms, until this call's deadline (turns do not interleave: a call back into an actor whose turn is waiting for it waits until the deadline)`,
      Code.DeadlineExceeded,
    );

  const runningSet = (partition: number) => {
    let set = runningByPartition.get(partition);
    if (set === undefined) {
      set = new Set();
      runningByPartition.set(partition, set);
    }
    return set;
  };

  /** Queues a turn for `key` and resolves with its result. */
  const enqueue = <T>(
    key: string,
    partition: number,
    epoch: number,
    call: { readonly signal: AbortSignal; readonly timeoutMs: number | undefined } | undefined,
    body: (activation: Activation) => Promise<T>,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const activation = activationOf(key, partition, epoch);
      // The turn may be run by the loop another call started: it runs in its own call's context
      // (deadline, cancellation, trace), captured here.
      const resume = snapshotAsyncContext();
      const task: Task = {
        signal: call?.signal,
        queuedAt: performance.now(),
        reject,
        run: (a) => resume(() => body(a)).then(resolve, (err) => reject(err)),
        expiry: undefined,
      };
      activation.mailbox.push(task);
      if (activation.running && call?.timeoutMs !== undefined) {
        task.expiry = setTimeout(
          () => {
            const at = activation.mailbox.indexOf(task);
            if (at === -1) return;
            activation.mailbox.splice(at, 1);
            reject(waitedTooLong(activation, task));
          },
          Math.max(0, call.timeoutMs - ANSWER_BEFORE_DEADLINE_MS),
        );
      }
      void drainMailbox(activation);
    });

  /** The body of one turn: load, run, commit. `call` is undefined for a timer's turn. */
  const turnBody =
    (
      handler: (turn: Turn<DescMessage>) => Promise<unknown>,
      call: { method: DescMethod; context: HandlerContext } | undefined,
    ) =>
    async (activation: Activation): Promise<unknown> => {
      if (!(placement?.holds(activation.partition, activation.epoch) ?? false)) {
        deactivate(activation);
        counts.moved++;
        throw moved(activation.partition);
      }
      if (!activation.loaded) await load(activation);
      // Read only when it matters (an actor with remembered calls, a turn that changed the state):
      // the call's metadata is parsed on first use.
      let idempotencyKey: string | undefined;
      const idempotencyKeyOf = () => {
        idempotencyKey ??= call?.context.requestHeader.get(Header.idempotencyKey) ?? "";
        return idempotencyKey;
      };
      const methodName = call === undefined ? "" : `${call.method.parent.typeName}/${call.method.name}`;
      if (call !== undefined && activation.applied.length > 0 && idempotencyKeyOf() !== "") {
        const earlier = activation.applied.find((a) => a.idempotencyKey === idempotencyKey);
        if (earlier !== undefined) {
          if (earlier.method !== methodName) {
            throw new ConnectError(
              `idempotency key "${idempotencyKey}" was used for ${earlier.method}, not ${methodName}`,
              Code.InvalidArgument,
            );
          }
          if (earlier.replyDropped) {
            throw new ConnectError(
              `idempotency key "${idempotencyKey}" was applied at ${new Date(Number(earlier.appliedAtMs)).toISOString()}; its reply is no longer kept`,
              Code.AlreadyExists,
            );
          }
          counts.replayed++;
          return fromBinary(call.method.output, earlier.reply);
        }
      }
      counts.turns++;
      let ending = false;
      /** The turn wrote its state with `save()`: its call's idempotency record is still to write. */
      let saved = false;
      const turn: Turn<DescMessage> = {
        key: activation.key,
        state: activation.state,
        partition: activation.partition,
        epoch: activation.epoch,
        instanceId,
        signal: call?.context.signal ?? neverAborted,
        context: call?.context,
        setTimer: (name, delayMs, timerOptions) => setTimer(activation, name, delayMs, timerOptions?.everyMs),
        clearTimer: (name) => {
          clearTimeout(activation.timers.get(name));
          activation.timers.delete(name);
        },
        remind: (name, due, payload) => remindersOf().set(activation.key, name, due, payload),
        forget: (name) => remindersOf().cancel(activation.key, name),
        deactivate: () => {
          ending = true;
        },
        save: async () => {
          const bytes = toBinary(stateSchema, turn.state);
          if (sameBytes(bytes, activation.stored)) return;
          await commit(activation, turn.state, bytes, activation.applied);
          saved = true;
        },
      };
      let result: unknown;
      try {
        result = await handler(turn);
      } catch (err) {
        // The state goes back to what is stored: a failed turn changes nothing after its last save.
        activation.state = fromBinary(stateSchema, activation.stored);
        throw err;
      }
      const reply = call === undefined ? undefined : create(call.method.output, result as never);
      const state = toBinary(stateSchema, turn.state);
      const changed = !sameBytes(state, activation.stored);
      if (changed || (saved && reply !== undefined && idempotencyKeyOf() !== "")) {
        const applied =
          reply !== undefined && idempotencyKeyOf() !== ""
            ? remember(
                activation.applied,
                idempotencyKeyOf(),
                methodName,
                toBinary(call?.method.output as DescMessage, reply),
              )
            : activation.applied;
        await commit(activation, turn.state, state, applied);
      } else {
        activation.state = turn.state;
      }
      if (ending) activation.ending = true;
      return reply;
    };

  const remember = (applied: AppliedCall[], idempotencyKey: string, method: string, reply: Uint8Array) => {
    const now = Date.now();
    const kept = applied.filter((a) => now - Number(a.appliedAtMs) < keepMs);
    kept.push(create(AppliedCallSchema, { idempotencyKey, method, reply, appliedAtMs: BigInt(now) }));
    const recent = kept.slice(Math.max(0, kept.length - keepKeys));
    for (let i = 0; i < recent.length - keepReplies; i++) {
      const entry = recent[i] as AppliedCall;
      if (!entry.replyDropped) {
        recent[i] = create(AppliedCallSchema, { ...entry, reply: new Uint8Array(0), replyDropped: true });
      }
    }
    return recent;
  };

  const commit = async (
    activation: Activation,
    state: MessageShape<DescMessage>,
    bytes: Uint8Array,
    applied: AppliedCall[],
  ) => {
    // The lease is checked last before the write: a turn that outlived its lease (a paused
    // process) must not write over the next owner's state.
    if (!(placement?.holds(activation.partition, activation.epoch) ?? false)) {
      activation.ending = true;
      activation.state = fromBinary(stateSchema, activation.stored);
      counts.moved++;
      throw moved(activation.partition);
    }
    try {
      if (bytes.length === 0 && applied.length === 0) {
        if (activation.revision !== 0) {
          await store.delete(activation.stateKey, { expectedRevision: activation.revision });
        }
        activation.revision = 0;
      } else {
        const record: MessageInitShape<typeof ActorRecordSchema> = { state: bytes, applied };
        activation.revision = await store.put(activation.stateKey, record, {
          expectedRevision: activation.revision,
        });
      }
    } catch (err) {
      // Stale (another activation wrote) or unknown (the write's answer was lost): either way
      // this activation no longer knows the stored state; the next call loads it again.
      activation.ending = true;
      activation.loaded = false;
      if (err instanceof ConnectError && err.code === Code.Aborted) {
        counts.stale++;
        throw new ConnectError(
          `${service.typeName} actor "${activation.key}": its stored state changed under this activation (was it active elsewhere?); nothing was written, retry`,
          Code.Aborted,
          undefined,
          undefined,
          err,
        );
      }
      throw err;
    }
    activation.state = state;
    activation.stored = bytes;
    activation.applied = applied;
  };

  const setTimer = (activation: Activation, name: string, delayMs: number, everyMs: number | undefined) => {
    if (impl.onTimer === undefined) {
      throw new Error(`${service.typeName}: setTimer needs an onTimer in its keyed implementation`);
    }
    const onTimer = impl.onTimer;
    clearTimeout(activation.timers.get(name));
    const fire = () => {
      if (activation.closed) return;
      if (everyMs === undefined) activation.timers.delete(name);
      else activation.timers.set(name, setTimeout(fire, everyMs));
      const body = turnBody(async (turn) => onTimer(name, turn), undefined);
      // Not part of the call whose turn set the timer: that call may be long answered.
      runOutsideCallScope(() =>
        enqueue(activation.key, activation.partition, activation.epoch, undefined, body),
      ).catch((err) => {
        logger.log("warn", "a keyed actor's timer turn failed", {
          service: service.typeName,
          key: activation.key,
          timer: name,
          ...errorFields(err),
        });
      });
    };
    activation.timers.set(name, setTimeout(fire, Math.max(0, delayMs)));
  };

  // The Connect implementation: each method finds the key, then runs as a turn of its actor.
  const implementation: Record<string, (request: unknown, context: HandlerContext) => Promise<unknown>> = {};
  for (const method of service.methods) {
    const handler = (impl.handlers as Record<string, AnyKeyedImpl | undefined>)[method.localName];
    if (handler === undefined) continue;
    implementation[method.localName] = async (request, context) => {
      const key = checkActorKey(contract.keyOf(method, request as object), contract);
      const partition = partitionOf(key, contract.partitions);
      const came = partitionOfSubject(context.url);
      if (came === undefined) {
        // A caller that does not route by key: the owner answers through this instance.
        counts.forwarded++;
        return forward(method, request, context);
      }
      if (came !== partition) {
        throw new ConnectError(
          `${service.typeName}: key "${key}" is in partition ${partition}, but the call came for partition ${came}: caller and actor disagree on the contract's partitions`,
          Code.FailedPrecondition,
        );
      }
      const epoch = placement?.epochOf(partition);
      if (epoch === undefined) {
        counts.moved++;
        throw moved(partition);
      }
      return enqueue(
        key,
        partition,
        epoch,
        { signal: context.signal, timeoutMs: context.timeoutMs() },
        turnBody(async (turn) => handler(request, turn), { method, context }),
      );
    };
  }

  const forward = (method: DescMethod, request: unknown, context: HandlerContext) => {
    const header = new Headers();
    context.requestHeader.forEach((value, name) => {
      if (!PROTOCOL_HEADERS.has(name)) header.set(name, value);
    });
    const timeoutMs = context.timeoutMs();
    return (forwarder[method.localName] as (r: unknown, o: CallOptions) => Promise<unknown>)(request, {
      headers: header,
      signal: context.signal,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  };

  /** Runs a fired reminder as a turn here, when this instance owns its actor's partition. */
  const remindHere = (turn: MessageShape<typeof ReminderTurnSchema>): Promise<void> | undefined => {
    const onReminder = impl.onReminder;
    if (onReminder === undefined) throw new Error(`${service.typeName} has no onReminder`);
    const partition = partitionOf(turn.key, contract.partitions);
    const epoch = placement?.epochOf(partition);
    if (epoch === undefined) return undefined;
    const due: DueReminder = {
      name: turn.name,
      payload: turn.payload,
      dueAt: new Date(Number(turn.dueAtMs)),
    };
    return enqueue(
      turn.key,
      partition,
      epoch,
      undefined,
      turnBody(async (t) => onReminder(due, t), undefined),
    ).then(() => undefined);
  };

  /**
   * A fired reminder from the stream: its turn runs here or at the partition's owner. While the
   * partition has no owner (it is moving, or every instance just started and the old leases have
   * not expired), it asks again for up to REMINDER_OWNER_WAIT_MS: a reminder is not an attempt
   * lost to a move.
   */
  const onFired = async (fired: FiredReminder) => {
    const turn = create(ReminderTurnSchema, {
      key: fired.key,
      name: fired.name,
      payload: fired.payload,
      dueAtMs: BigInt(fired.dueAt.getTime()),
    });
    const subject = rpcReminderSubject(
      service,
      partitionOf(fired.key, contract.partitions),
      options.namespace,
    );
    const until = performance.now() + REMINDER_OWNER_WAIT_MS;
    for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 1_000)) {
      const here = remindHere(turn);
      if (here !== undefined) return here;
      let failure: string;
      try {
        const reply = await options.nc.request(subject, toBinary(ReminderTurnSchema, turn), {
          timeout: REMINDER_OWNER_WAIT_MS,
        });
        const code = reply.headers?.get(Header.serviceErrorCode) ?? "";
        if (code === "") return;
        failure = `${code} ${reply.headers?.get(Header.serviceError)}`;
        if (code !== String(MOVED_STATUS))
          throw new Error(`the reminder's turn at ${subject} failed: ${failure}`);
      } catch (err) {
        if (!(err instanceof RequestError && err.isNoResponders())) throw err;
        failure = "no owner";
      }
      if (performance.now() + delayMs > until) {
        throw new Error(`the reminder's turn at ${subject} found no owner of the partition: ${failure}`);
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };

  /** A reminder's turn asked for by the instance that took it from the stream. */
  const onReminderRequest = (msg: Msg) => {
    let turn: MessageShape<typeof ReminderTurnSchema>;
    try {
      turn = fromBinary(ReminderTurnSchema, msg.data);
    } catch (err) {
      replyError(
        msg,
        new ConnectError("a malformed reminder turn", Code.InvalidArgument, undefined, undefined, err),
      );
      return;
    }
    const here = remindHere(turn);
    if (here === undefined) {
      replyError(msg, moved(partitionOf(turn.key, contract.partitions)));
      return;
    }
    here.then(
      () => msg.respond(),
      (err) => replyError(msg, toConnectError(err)),
    );
  };

  const release = async (partition: number, _reason: ReleaseReason) => {
    const subscription = subscriptions.get(partition);
    subscriptions.delete(partition);
    subscription?.unsubscribe();
    for (const activation of [...activations.values()]) {
      if (activation.partition === partition) activation.ending = true;
    }
    const running = runningByPartition.get(partition);
    if (running !== undefined) await Promise.allSettled([...running]);
    for (const activation of [...activations.values()]) {
      if (activation.partition === partition && !activation.running) deactivate(activation);
    }
  };

  return {
    registration: {
      service,
      implementation: implementation as unknown as ServiceRegistration["implementation"],
    },
    async start(host) {
      sweeper = setInterval(sweep, Math.max(25, Math.min(idleMs / 2, 30_000)));
      placement = await startPlacement(options.nc, {
        service,
        partitions: contract.partitions,
        instanceId,
        namespace: options.namespace,
        leaseMs: impl.placement?.leaseMs ?? defaultPlacementTiming.leaseMs,
        renewMs: impl.placement?.renewMs ?? defaultPlacementTiming.renewMs,
        logger,
        onAcquire: async (partition) => {
          const subscription = options.nc.subscribe(
            rpcPartitionWildcard(service, partition, options.namespace),
            {
              callback: (err, msg) => {
                if (err !== null) return;
                if (methodNameOf(msg.subject, serviceSubject) === REMINDER_METHOD) onReminderRequest(msg);
                else host.dispatch(msg);
              },
            },
          );
          subscriptions.set(partition, subscription);
          await options.nc.flush();
        },
        onRelease: release,
      });
      if (impl.onReminder !== undefined) {
        reminders = await openReminders(options.nc, service, { namespace: options.namespace });
        reminderConsumer = await consumeReminders(options.nc, service, onFired, {
          namespace: options.namespace,
          logger,
        });
      }
    },
    stats() {
      return {
        service: service.typeName,
        partitions: placement?.owned().length ?? 0,
        members: placement?.members().length ?? 0,
        active: activations.size,
        ...counts,
        leases: placement?.counts,
      };
    },
    async stop() {
      clearInterval(sweeper);
      await reminderConsumer?.stop(5_000);
      await placement?.stop();
      for (const activation of [...activations.values()]) deactivate(activation);
    },
  };
}

type AnyKeyedImpl = (request: unknown, turn: Turn<DescMessage>) => unknown;

/** How long a fired reminder waits for its partition to have an owner before it counts as failed. */
const REMINDER_OWNER_WAIT_MS = 20_000;

/** The status of an error reply saying the partition moved (`unavailable`). */
const MOVED_STATUS = 503;

/** Protocol headers a forwarded call sets itself. */
const PROTOCOL_HEADERS = new Set(["content-type", "connect-timeout-ms"]);

const neverAborted = new AbortController().signal;

/**
 * The state bucket key of an actor key: the key itself when it is a valid KV key, otherwise `=`
 * and its UTF-8 bytes in unpadded base64url (state keys do not start with `=` otherwise).
 */
export function stateKeyOf(key: string): string {
  if (isStateKey(key) && !key.startsWith("=")) return key;
  return `=${base64Encode(new TextEncoder().encode(key), "url").replace(/=+$/, "")}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
