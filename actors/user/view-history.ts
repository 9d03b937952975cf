/**
 * What each user viewed, in memory: per user, the products in the order of their latest view
 * (a product viewed again moves to the front, so the list has each product once), capped at
 * `maxPerUser` products (the oldest fall off).
 */
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";

export interface ProductView {
  readonly productId: string;
  readonly viewedAt: Timestamp;
}

export interface ViewHistory {
  /** Records a view now and returns its time. */
  record(userId: string, productId: string): Timestamp;
  /** Up to `limit` products the user viewed, most recently viewed first, each once. */
  recent(userId: string, limit: number): ProductView[];
}

export function createViewHistory(maxPerUser: number): ViewHistory {
  // A Map keeps insertion order: delete-then-set moves a product to the end (the most recent).
  const byUser = new Map<string, Map<string, Timestamp>>();
  return {
    record(userId, productId) {
      let views = byUser.get(userId);
      if (views === undefined) {
        views = new Map();
        byUser.set(userId, views);
      }
      const viewedAt = timestampNow();
      views.delete(productId);
      views.set(productId, viewedAt);
      if (views.size > maxPerUser) {
        const oldest = views.keys().next();
        if (oldest.done !== true) views.delete(oldest.value);
      }
      return viewedAt;
    },
    recent(userId, limit) {
      const views = [...(byUser.get(userId) ?? [])];
      const result: ProductView[] = [];
      for (let i = views.length - 1; i >= 0 && result.length < limit; i--) {
        const [productId, viewedAt] = views[i] as [string, Timestamp];
        result.push({ productId, viewedAt });
      }
      return result;
    },
  };
}
