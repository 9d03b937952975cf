/**
 * What users viewed, in JetStream KV buckets that every instance shares:
 *
 *   user_views            view id → RecordedView (the first call; remembered for `viewIdTtlMs`)
 *   user_recently_viewed  user id → ViewHistory (each product once, latest view first, capped)
 *
 * A view is recorded in two writes: the view id is claimed with a create-only put (so of two
 * concurrent calls with one view id, one records and both answer alike), then the view is merged
 * into the user's history with a read-modify-write. Merging is idempotent and ordered by time,
 * so a retry of a call that stopped between the two writes completes it, and views merged out of
 * order land where their times put them.
 */
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type ProductView,
  ProductViewSchema,
  type RecordedView,
  RecordedViewSchema,
  ViewHistorySchema,
} from "../../proto/gen/shop/user/state/v1/user_state_pb.ts";
import { openStateStore, stateKeyOf } from "../../runtime/mod.ts";

export type { ProductView, RecordedView };

export interface ViewHistory {
  /** The view recorded under `viewId`, if any; makes sure the user's history includes it. */
  earlier(viewId: string): Promise<RecordedView | undefined>;
  /**
   * Records a view now under `viewId` and adds it to the user's history. When a concurrent call
   * recorded `viewId` first, nothing is recorded and that call's view is returned.
   */
  record(viewId: string, userId: string, productId: string): Promise<RecordedView>;
  /** Up to `limit` products the user viewed, most recently viewed first, each once. */
  recent(userId: string, limit: number): Promise<ProductView[]>;
}

export interface ViewHistoryOptions {
  /** Prefixes the bucket names, as it prefixes the actor's subjects. */
  readonly namespace: string;
  /** How many distinct products a user's history keeps (the oldest views fall off). */
  readonly maxPerUser: number;
  /** How long a view id is remembered for retries, in milliseconds. */
  readonly viewIdTtlMs: number;
}

export const defaultViewHistoryOptions: ViewHistoryOptions = {
  namespace: "",
  maxPerUser: 50,
  viewIdTtlMs: 7 * 24 * 60 * 60 * 1000,
};

export async function openViewHistory(
  nc: NatsConnection,
  partial: Partial<ViewHistoryOptions> = {},
): Promise<ViewHistory> {
  const { namespace, maxPerUser, viewIdTtlMs } = { ...defaultViewHistoryOptions, ...partial };
  const [views, histories] = await Promise.all([
    openStateStore(nc, { bucket: "user_views", namespace, schema: RecordedViewSchema, ttlMs: viewIdTtlMs }),
    openStateStore(nc, { bucket: "user_recently_viewed", namespace, schema: ViewHistorySchema }),
  ]);

  /** Merges `view` into its user's history (a no-op when it is there, or a later view of the product is). */
  const include = async (view: RecordedView): Promise<void> => {
    const viewedAt = view.viewedAt ?? timestampNow();
    await histories.update(view.userId, (history) => {
      const entries = history?.views ?? [];
      const known = entries.find((entry) => entry.productId === view.productId);
      if (known !== undefined && millisOf(known.viewedAt) >= timestampMs(viewedAt)) return undefined;
      const others = entries.filter((entry) => entry !== known);
      // Before the first entry that is not newer: a later view of another product stays in front.
      let at = others.findIndex((entry) => millisOf(entry.viewedAt) <= timestampMs(viewedAt));
      if (at === -1) at = others.length;
      others.splice(at, 0, create(ProductViewSchema, { productId: view.productId, viewedAt }));
      return { views: others.slice(0, maxPerUser) };
    });
  };

  return {
    async earlier(viewId) {
      const entry = await views.get(stateKeyOf(viewId));
      if (entry === undefined) return undefined;
      await include(entry.value);
      return entry.value;
    },

    async record(viewId, userId, productId) {
      const key = stateKeyOf(viewId);
      const view = create(RecordedViewSchema, { userId, productId, viewedAt: timestampNow() });
      try {
        await views.put(key, view, { expectedRevision: 0 });
      } catch (err) {
        if (!(err instanceof ConnectError && err.code === Code.Aborted)) throw err;
        const first = await views.get(key);
        if (first === undefined) throw err; // recorded and gone again at once: let the caller retry
        await include(first.value); // in case the call that recorded it stopped before this
        return first.value;
      }
      await include(view);
      return view;
    },

    async recent(userId, limit) {
      return ((await histories.get(userId))?.value.views ?? []).slice(0, limit);
    },
  };
}

function millisOf(timestamp: Timestamp | undefined): number {
  return timestamp === undefined ? 0 : timestampMs(timestamp);
}
