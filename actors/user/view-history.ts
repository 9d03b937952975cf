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
import type { ActorContext } from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import {
  type ProductView,
  ProductViewSchema,
  type RecordedView,
  RecordedViewSchema,
  ViewHistorySchema,
} from "../../proto/gen/shop/user/state/v1/user_state_pb.ts";

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

/** How long a view id is remembered for retries, in milliseconds. */
const VIEW_ID_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** `maxPerUser`: how many distinct products a user's history keeps (the oldest views fall off). */
export async function openViewHistory(
  ctx: Pick<ActorContext, "state">,
  maxPerUser: number,
): Promise<ViewHistory> {
  const [views, histories] = await Promise.all([
    ctx.state("user_views", RecordedViewSchema, { ttlMs: VIEW_ID_TTL_MS }),
    ctx.state("user_recently_viewed", ViewHistorySchema),
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
      const view = create(RecordedViewSchema, { userId, productId, viewedAt: timestampNow() });
      // The first view recorded under the id (perhaps by a call that stopped before including it).
      const first = await views.claim(stateKeyOf(viewId), view);
      await include(first);
      return first;
    },

    async recent(userId, limit) {
      return ((await histories.get(userId))?.value.views ?? []).slice(0, limit);
    },
  };
}

function millisOf(timestamp: Timestamp | undefined): number {
  return timestamp === undefined ? 0 : timestampMs(timestamp);
}
