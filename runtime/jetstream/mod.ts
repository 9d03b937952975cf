/**
 * `troupe/jetstream`: streams, consumers, dead letters, state watches, route records and keyed
 * actors' reminders below the actor API (docs/adr/0007-events-queues-and-dead-letters.md, 0012).
 */
export {
  type ConsumeOptions,
  type ConsumerLagSnapshot,
  type ConsumerStatsSnapshot,
  type ConsumeTarget,
  consume,
  defaultConsumeOptions,
  type MessageHandler,
  type RunningConsumer,
} from "./consume.ts";
export {
  type DeadLetter,
  defaultListDeadLettersOptions,
  deleteDeadLetter,
  type ListDeadLettersOptions,
  listDeadLetters,
  type RedriveOptions,
  redriveDeadLetter,
} from "./dead-letters.ts";
export {
  type ConsumerOptions,
  type ConsumerSpec,
  defaultConsumerOptions,
  eventConsumer,
  jobConsumer,
  reconcileConsumer,
} from "./declare-consumers.ts";
export {
  DUPLICATE_WINDOW_MS,
  deadLetterStream,
  defaultStreamOptions,
  eventStream,
  jobStream,
  type ReconcileResult,
  reconcileStreams,
  type StreamOptions,
  type StreamSpec,
} from "./declare-streams.ts";
export { loadDescriptors } from "./descriptor-store.ts";
export { defaultIdempotencyGuardOptions, type IdempotencyGuardOptions } from "./idempotency-guard.ts";
export {
  type ConsumeRemindersOptions,
  consumeReminders,
  defaultConsumeRemindersOptions,
  defaultReminderOptions,
  type FiredReminder,
  openReminders,
  type ReminderOptions,
  type Reminders,
  reminderStream,
} from "./reminders.ts";
export {
  defaultRouteStoreOptions,
  defaultWatchRoutesOptions,
  openRouteStore,
  type RouteStore,
  type RouteStoreOptions,
  type WatchedRoutes,
  type WatchRoutesOptions,
} from "./route-store.ts";
export type { Publishes } from "./serve-subscriptions.ts";
export { CONSUMER_FEATURES, type ServerFeature, STREAM_FEATURES } from "./server-features.ts";
export { isStateKey, stateBucketName, stateKeyOf } from "./state-keys.ts";
export type { MirroredChange, StateMirror } from "./state-mirror.ts";
export { defaultOnceOptions, type OnceEffect, type OnceOptions } from "./state-once.ts";
export {
  defaultStateStoreOptions,
  type StateChange,
  type StateStoreOptions,
  type StateUpdater,
  type StateWatch,
  type StateWatchOptions,
  type WriteOptions as StateWriteOptions,
} from "./state-store.ts";
export type { HandlerSpec } from "./subscriptions.ts";
