/**
 * The user actor: customer accounts and what customers looked at (shop.v1.UserService). It
 * calls the product actor (ProductService.GetProduct) to check a viewed product and to show the
 * recently viewed ones; those calls inherit the caller's remaining deadline and cancellation
 * (ctx.client), so a nested call never outlives the call it serves. Accounts, idempotency keys
 * and view histories live in JetStream KV buckets (user-store.ts, view-history.ts), shared by
 * every instance and kept across restarts, in the actor's namespace.
 *
 * A completed registration publishes UserRegistered on `evt.shop.v1.UserRegistered.<user id>`
 * with the message id `user-registered.<user id>` (`userRegisteredEventId`), as the last step of
 * the registration, so an idempotent retry completes it like the KV writes before it:
 *
 * - The event is published after the user is written: a subscriber that calls GetUser finds it.
 * - A call that fails after the email was claimed (its instance crashed, or the stream did not
 *   take the event) leaves the registration unannounced, and its outbox entry
 *   (`user_unannounced`, written before the user) in place. The client's retry with the same
 *   idempotency key announces it; without a retry, the sweep does (announce-sweep.ts): every
 *   instance, at start and then about every `announceSweep.intervalMs` (30 s), announces the
 *   outbox entries older than `announceSweep.graceMs` (30 s) through the same idempotent steps,
 *   so a registration whose call is never retried still gets its UserRegistered (and welcome
 *   mail) within about a minute of a live instance. The sweep reads the outbox, not the users.
 * - A crash after the stream stored the event and before the registration was marked announced
 *   (`user_announced`): the retry or the sweep publishes again with the same message id. Within
 *   the stream's duplicate window (2 minutes) the stream drops it; a publish later than that (a
 *   late retry, or a sweep when no instance ran for a while) stores the event a second time, and
 *   subscribers must tolerate it (the email actor's welcome is deduplicated per user, not per
 *   message).
 * - Once marked, a retry or a sweep publishes nothing: the event is stored once per user.
 *
 * What a customer viewed is theirs: through the gateway, RecordProductView and
 * ListRecentlyViewed take the authenticated caller when `user_id` is empty and refuse another
 * user's id with `permission_denied` (user-of-call.ts).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type ActorContext, defineActor, implement } from "troupe";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type User, UserRegisteredSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { userOfCall } from "../shared/user-of-call.ts";
import { type AnnounceSweepOptions, sweepAnnouncements } from "./announce-sweep.ts";
import { type Announce, openUserStore } from "./user-store.ts";
import { openViewHistory, type RecordedView } from "./view-history.ts";

/** ListRecentlyViewed: the page size for page_size 0, and the largest one served. */
export const DEFAULT_RECENT_PAGE_SIZE = 10;
export const MAX_RECENT_PAGE_SIZE = 50;

export interface UserActorOptions {
  /** How often, and after how long, instances announce registrations their call left behind. */
  readonly announceSweep: Partial<AnnounceSweepOptions>;
}

export const defaultUserActorOptions: UserActorOptions = { announceSweep: {} };

/**
 * The message id of the UserRegistered event of `userId`: the same on every publish, so that the
 * stream's duplicate window drops a republish.
 */
export function userRegisteredEventId(userId: string): string {
  return `user-registered.${userId}`;
}

const publishes = { events: [UserRegisteredSchema] };

/** The user actor with some options changed (tests, demos). */
export function createUserActor(partial: Partial<UserActorOptions> = {}) {
  const options: UserActorOptions = { ...defaultUserActorOptions, ...partial };
  return defineActor({
    name: "user",
    version: "1.0.0",
    description: "Customer accounts, and the products each customer viewed.",
    serves: [UserService],
    calls: [ProductService],
    publishes,
    state: [
      "users",
      "user_emails",
      "user_registrations",
      "user_unannounced",
      "user_announced",
      "user_views",
      "user_recently_viewed",
    ],
    async setup(ctx) {
      const [users, views] = await Promise.all([
        openUserStore(ctx),
        openViewHistory(ctx, MAX_RECENT_PAGE_SIZE),
      ]);
      sweepAnnouncements(ctx, users, announcer(ctx), options.announceSweep);
      return { users, views };
    },
    services(ctx, { users, views }) {
      const products = ctx.client(ProductService);

      const existingUser = async (id: string): Promise<User> => {
        const user = await users.get(id);
        if (user === undefined) throw new ConnectError(`user "${id}" not found`, Code.NotFound);
        return user;
      };

      return [
        implement(UserService, {
          // user.proto's rules checked the request: an address, a name, a key.
          async registerUser({ idempotencyKey, email, displayName }) {
            const registration = {
              idempotencyKey,
              email: email.trim().toLowerCase(),
              displayName: displayName.trim(),
            };
            return { user: await users.register(registration, announcer(ctx)) };
          },

          async getUser(request) {
            return { user: await existingUser(request.id) };
          },

          async recordProductView(request, context) {
            // Through the gateway: the caller's own views only (an empty user_id is the caller).
            const userId = userOfCall(request.userId, context);
            if (userId === "") throw invalidArgument("user_id is required");
            const { viewId, productId } = request;
            await existingUser(userId);

            const earlier = await views.earlier(viewId);
            if (earlier !== undefined) return answerFor(earlier, viewId, userId, productId);
            await products.getProduct({ id: productId }).catch(productNotFound(productId));
            // A concurrent call with the same view id may have recorded it meanwhile: then that
            // call's view is the answer (or a conflict, if it was for another user or product).
            return answerFor(await views.record(viewId, userId, productId), viewId, userId, productId);
          },

          async listRecentlyViewed(request, context) {
            const userId = userOfCall(request.userId, context);
            if (userId === "") throw invalidArgument("user_id is required");
            const limit =
              request.pageSize === 0
                ? DEFAULT_RECENT_PAGE_SIZE
                : Math.min(request.pageSize, MAX_RECENT_PAGE_SIZE);
            await existingUser(userId);
            const recent = await views.recent(userId, limit);

            // One GetProduct per product, in parallel; the first failure cancels the others.
            const failed = new AbortController();
            const lookups = recent.map(async ({ productId, viewedAt }) => {
              const product = await products.getProduct({ id: productId }, { signal: failed.signal }).then(
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
}

/** The user actor as `actors/user/main.ts` runs it. */
export const userActor = createUserActor();

/**
 * Publishes UserRegistered for a user; for a call, within the call's remaining time (ctx.publish
 * does that), for the sweep with the default. Everything in the event comes from the stored
 * user, so every publish for one user is the same message.
 */
function announcer(ctx: ActorContext<typeof publishes>): Announce {
  return async ({ id: userId, email, displayName, createdAt: registeredAt }) => {
    const event = { userId, email, displayName, registeredAt };
    await ctx.publish(UserRegisteredSchema, event, { id: userRegisteredEventId(userId) });
  };
}

/** RecordProductView's answer when `view` is what `viewId` recorded: the same view, or a conflict. */
function answerFor(view: RecordedView, viewId: string, userId: string, productId: string) {
  if (view.userId !== userId || view.productId !== productId) {
    throw new ConnectError(
      `view_id "${viewId}" was already used for a different user or product`,
      Code.AlreadyExists,
    );
  }
  return { viewedAt: view.viewedAt };
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

function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
