/**
 * The user actor: customer accounts and what customers looked at (shop.v1.UserService). It
 * calls the product actor (ProductService.GetProduct) to check a viewed product and to show the
 * recently viewed ones, passing on the caller's remaining deadline and cancellation, so a nested
 * call never outlives the call it serves. Accounts, idempotency keys and view histories live in
 * JetStream KV buckets (user-store.ts, view-history.ts), shared by every instance and kept
 * across restarts, in the actor's namespace.
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
 */
import { type CallOptions, Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { ProductService } from "../../proto/gen/shop/v1/product_pb.ts";
import { type User, UserRegisteredSchema, UserService } from "../../proto/gen/shop/v1/user_pb.ts";
import { type ActorContext, type ActorDefinition, defineActor, implement } from "../../runtime/mod.ts";
import {
  type AnnounceSweep,
  type AnnounceSweepOptions,
  createAnnounceSweep,
  resolveAnnounceSweepOptions,
} from "./announce-sweep.ts";
import { type Announce, openUserStore, type UserStore } from "./user-store.ts";
import { openViewHistory, type RecordedView, type ViewHistory } from "./view-history.ts";

/** ListRecentlyViewed: the page size for page_size 0, and the largest one served. */
export const DEFAULT_RECENT_PAGE_SIZE = 10;
export const MAX_RECENT_PAGE_SIZE = 50;
const MAX_KEY_LENGTH = 100;
const MAX_EMAIL_LENGTH = 254;
const MAX_DISPLAY_NAME_LENGTH = 100;
// Deliberately loose: one @, no white space, a dot in the domain. Delivery proves the rest.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

/** Where one instance keeps its state. */
export interface UserState {
  readonly users: UserStore;
  readonly views: ViewHistory;
}

export interface UserActorOptions {
  /**
   * Opens the state of one instance (once per instance, when it starts). The default opens the
   * buckets in the namespace the actor is served in.
   */
  readonly state: (ctx: ActorContext) => Promise<UserState>;
  /** How often, and after how long, instances announce registrations their call left behind. */
  readonly announceSweep: Partial<AnnounceSweepOptions>;
}

export const defaultUserActorOptions: UserActorOptions = {
  state: (ctx) => openUserState(ctx.nc, ctx.namespace),
  announceSweep: {},
};

/** What one instance keeps: its state, and its sweep of the outbox. */
interface UserInstance extends UserState {
  readonly sweep: AnnounceSweep;
}

/**
 * The message id of the UserRegistered event of `userId`: the same on every publish, so that the
 * stream's duplicate window drops a republish.
 */
export function userRegisteredEventId(userId: string): string {
  return `user-registered.${userId}`;
}

/** The user actor's buckets, in `namespace`. */
export async function openUserState(nc: NatsConnection, namespace = ""): Promise<UserState> {
  const [users, views] = await Promise.all([
    openUserStore(nc, { namespace }),
    openViewHistory(nc, { namespace, maxPerUser: MAX_RECENT_PAGE_SIZE }),
  ]);
  return { users, views };
}

/** The user actor with some options changed (tests, demos). */
export function createUserActor(partial: Partial<UserActorOptions> = {}): ActorDefinition {
  const options: UserActorOptions = { ...defaultUserActorOptions, ...partial };
  const sweepOptions = resolveAnnounceSweepOptions(options.announceSweep);
  return defineActor<UserInstance>({
    name: "user",
    version: "1.0.0",
    description: "Customer accounts, and the products each customer viewed.",
    publishes: { events: [UserRegisteredSchema] },
    async setup(ctx) {
      const state = await options.state(ctx);
      const sweep = createAnnounceSweep(state.users, announcer(ctx), ctx.logger, sweepOptions);
      return { ...state, sweep };
    },
    stop: (_ctx, { sweep }) => sweep.stop(),
    services(ctx, { users, views, sweep }) {
      // Started here, not in setup: services are built after the actor's streams are declared,
      // so the first pass (at start) can publish.
      sweep.start();
      const products = ctx.client(ProductService);

      const existingUser = async (id: string): Promise<User> => {
        const user = await users.get(id);
        if (user === undefined) throw new ConnectError(`user "${id}" not found`, Code.NotFound);
        return user;
      };

      return [
        implement(UserService, {
          async registerUser(request, context) {
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
            const registration = { idempotencyKey, email, displayName };
            return { user: await users.register(registration, announcer(ctx, context)) };
          },

          async getUser(request) {
            if (request.id === "") throw invalidArgument("id is required");
            return { user: await existingUser(request.id) };
          },

          async recordProductView(request, context) {
            const viewId = checkKey(request.viewId, "view_id");
            if (request.userId === "") throw invalidArgument("user_id is required");
            if (request.productId === "") throw invalidArgument("product_id is required");
            const { userId, productId } = request;
            await existingUser(userId);

            const earlier = await views.earlier(viewId);
            if (earlier !== undefined) return answerFor(earlier, viewId, userId, productId);
            await products
              .getProduct({ id: productId }, nestedCallOptions(context))
              .catch(productNotFound(productId));
            // A concurrent call with the same view id may have recorded it meanwhile: then that
            // call's view is the answer (or a conflict, if it was for another user or product).
            return answerFor(await views.record(viewId, userId, productId), viewId, userId, productId);
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
            await existingUser(request.userId);
            const recent = await views.recent(request.userId, limit);

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
}

/** The user actor as `actors/user/main.ts` runs it. */
export const userActor: ActorDefinition = createUserActor();

/**
 * Publishes UserRegistered for a user, within the call's remaining time when it announces for a
 * call (the sweep's publishes take the default). Everything in the event comes from the stored
 * user, so every publish for one user is the same message.
 */
function announcer(ctx: ActorContext, context?: HandlerContext): Announce {
  return async (user) => {
    const timeoutMs = context?.timeoutMs();
    await ctx.publish(
      UserRegisteredSchema,
      { userId: user.id, email: user.email, displayName: user.displayName, registeredAt: user.createdAt },
      {
        id: userRegisteredEventId(user.id),
        ...(timeoutMs === undefined ? {} : { timeoutMs: Math.max(1, timeoutMs) }),
      },
    );
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
