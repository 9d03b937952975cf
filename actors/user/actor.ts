/**
 * The user actor: customer accounts and what customers looked at (shop.v1.UserService). It
 * calls the product actor (ProductService.GetProduct) to check a viewed product and to show the
 * recently viewed ones, passing on the caller's remaining deadline and cancellation, so a nested
 * call never outlives the call it serves. State is in memory for now (per instance); durable
 * state comes with JetStream KV.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { type CallOptions, Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { type ActorDefinition, defineActor, implement } from "../../runtime/mod.ts";
import { createUserStore } from "./user-store.ts";
import { createViewHistory } from "./view-history.ts";

/** ListRecentlyViewed: the page size for page_size 0, and the largest one served. */
export const DEFAULT_RECENT_PAGE_SIZE = 10;
export const MAX_RECENT_PAGE_SIZE = 50;
/** How many distinct products a user's history keeps. */
const MAX_VIEWS_PER_USER = MAX_RECENT_PAGE_SIZE;
/** How many view ids are remembered for RecordProductView retries (the oldest are forgotten). */
const REMEMBERED_VIEW_IDS = 100_000;
const MAX_KEY_LENGTH = 100;
const MAX_EMAIL_LENGTH = 254;
const MAX_DISPLAY_NAME_LENGTH = 100;
// Deliberately loose: one @, no white space, a dot in the domain. Delivery proves the rest.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

/** A RecordProductView call as first made, so that a retry gets the same answer. */
interface RecordedView {
  readonly userId: string;
  readonly productId: string;
  readonly viewedAt: Promise<Timestamp>;
}

export const userActor: ActorDefinition = defineActor({
  name: "user",
  version: "1.0.0",
  description: "Customer accounts, and the products each customer viewed.",
  services(ctx) {
    const users = createUserStore();
    const history = createViewHistory(MAX_VIEWS_PER_USER);
    const views = new Map<string, RecordedView>();
    const products = ctx.client(ProductService);

    const existingUser = (id: string) => {
      const user = users.get(id);
      if (user === undefined) throw new ConnectError(`user "${id}" not found`, Code.NotFound);
      return user;
    };

    return [
      implement(UserService, {
        registerUser(request) {
          const idempotencyKey = checkKey(request.idempotencyKey, "idempotency_key");
          const email = request.email.trim().toLowerCase();
          if (email === "") throw invalidArgument("email is required");
          if (email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) {
            throw invalidArgument(`email "${request.email}" is not a valid email address`);
          }
          const displayName = request.displayName.trim();
          const length = [...displayName].length;
          if (length === 0 || length > MAX_DISPLAY_NAME_LENGTH) {
            throw invalidArgument(
              `display_name must be 1-${MAX_DISPLAY_NAME_LENGTH} characters, got ${length}`,
            );
          }
          return { user: users.register({ idempotencyKey, email, displayName }) };
        },

        getUser(request) {
          if (request.id === "") throw invalidArgument("id is required");
          return { user: existingUser(request.id) };
        },

        async recordProductView(request, context) {
          const viewId = checkKey(request.viewId, "view_id");
          if (request.userId === "") throw invalidArgument("user_id is required");
          if (request.productId === "") throw invalidArgument("product_id is required");
          const { userId, productId } = request;
          existingUser(userId);

          const earlier = views.get(viewId);
          if (earlier !== undefined) {
            if (earlier.userId !== userId || earlier.productId !== productId) {
              throw new ConnectError(
                `view_id "${viewId}" was already used for a different user or product`,
                Code.AlreadyExists,
              );
            }
            return { viewedAt: await earlier.viewedAt };
          }

          // Remembered before the product check completes, so a concurrent retry waits for
          // this call instead of recording the view twice; forgotten if the check fails.
          const viewedAt = products
            .getProduct({ id: productId }, nestedCallOptions(context))
            .then(() => history.record(userId, productId), productNotFound(productId));
          views.set(viewId, { userId, productId, viewedAt });
          viewedAt.catch(() => {
            if (views.get(viewId)?.viewedAt === viewedAt) views.delete(viewId);
          });
          if (views.size > REMEMBERED_VIEW_IDS) {
            const oldest = views.keys().next();
            if (oldest.done !== true) views.delete(oldest.value);
          }
          return { viewedAt: await viewedAt };
        },

        async listRecentlyViewed(request, context) {
          if (request.userId === "") throw invalidArgument("user_id is required");
          if (request.pageSize < 0) {
            throw invalidArgument(`page_size must not be negative, got ${request.pageSize}`);
          }
          const limit =
            request.pageSize === 0
              ? DEFAULT_RECENT_PAGE_SIZE
              : Math.min(request.pageSize, MAX_RECENT_PAGE_SIZE);
          existingUser(request.userId);
          const recent = history.recent(request.userId, limit);

          // One GetProduct per product, in parallel; the first failure cancels the others.
          const failed = new AbortController();
          const options = nestedCallOptions(context, failed.signal);
          const lookups = recent.map(async ({ productId, viewedAt }) => {
            const product = await products.getProduct({ id: productId }, options).then(
              (response) => response.product,
              (err: unknown) => {
                if (err instanceof ConnectError && err.code === Code.NotFound) return undefined; // gone since
                throw err;
              },
            );
            return product === undefined ? undefined : { product, viewedAt };
          });
          try {
            const found = await Promise.all(lookups);
            return { products: found.filter((entry) => entry !== undefined) };
          } catch (err) {
            failed.abort(err);
            throw err;
          }
        },
      }),
    ];
  },
});

/**
 * Options for a call made while serving `context`: the caller's remaining time and its
 * cancellation carry over (plus an extra abort signal, if given).
 */
function nestedCallOptions(context: HandlerContext, extra?: AbortSignal): CallOptions {
  const timeoutMs = context.timeoutMs();
  return {
    signal: extra === undefined ? context.signal : AbortSignal.any([context.signal, extra]),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

/** Rejection handler of a GetProduct check: `not_found` names the product; other errors pass. */
function productNotFound(productId: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof ConnectError && err.code === Code.NotFound) {
      throw new ConnectError(`product "${productId}" not found`, Code.NotFound, undefined, undefined, err);
    }
    throw err;
  };
}

function checkKey(value: string, field: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (value.length > MAX_KEY_LENGTH) {
    throw invalidArgument(`${field} must be at most ${MAX_KEY_LENGTH} characters`);
  }
  return value;
}

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
