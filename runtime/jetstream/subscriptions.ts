/**
 * What an actor subscribes to: `onEvent(UserRegisteredSchema, handler, options)` and
 * `onJob(FulfilOrderSchema, handler, options)`, returned from the actor's `subscriptions(ctx)`.
 * serve-subscriptions.ts turns them into reconciled durable consumers and delivery loops.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import type { ConsumeOptions, MessageHandler } from "./consume.ts";
import type { ConsumerOptions } from "./declare-consumers.ts";

/** Options of one subscription: its durable consumer's, and this instance's delivery loop's. */
export type SubscriptionOptions = Omit<ConsumerOptions, "namespace"> &
  Pick<
    ConsumeOptions,
    "concurrency" | "bufferSize" | "perKeyOrdering" | "retryDelayMs" | "maxRetryDelayMs"
  > & {
    /**
     * Turns on the idempotency guard (idempotency-guard.ts): a message id this consumer already
     * handled is acknowledged without running the handler again.
     */
    readonly idempotent: boolean;
  };

/** One subscription of an actor (build it with `onEvent` or `onJob`). */
export interface HandlerSpec {
  readonly kind: "event" | "job";
  readonly schema: DescMessage;
  readonly handler: MessageHandler<DescMessage>;
  readonly options: Partial<SubscriptionOptions>;
}

/**
 * Handles every `schema` event: the actor's instances share one durable consumer named
 * `<actor>_<Message>`, so each event reaches each subscribing actor once.
 */
export function onEvent<Desc extends DescMessage>(
  schema: Desc,
  handler: MessageHandler<Desc>,
  options: Partial<SubscriptionOptions> = {},
): HandlerSpec {
  return { kind: "event", schema, handler: handler as unknown as MessageHandler<DescMessage>, options };
}

/** Handles `schema` jobs from their work queue: each job is handled by one instance. */
export function onJob<Desc extends DescMessage>(
  schema: Desc,
  handler: MessageHandler<Desc>,
  options: Partial<SubscriptionOptions> = {},
): HandlerSpec {
  return { kind: "job", schema, handler: handler as unknown as MessageHandler<DescMessage>, options };
}
