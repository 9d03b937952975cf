/**
 * The user actor's accounts, in JetStream KV buckets that every instance shares:
 *
 *   users               user id → User
 *   user_emails         email → User who holds it (the index that keeps emails unique)
 *   user_registrations  RegisterUser idempotency key → User it registered
 *   user_announced      user id → User, once its registration was announced (UserRegistered)
 *
 * Emails and idempotency keys are any text, so their keys are `stateKeyOf(text)`. There is no
 * transaction over several keys: a registration claims the idempotency key, then the email, then
 * writes the user, each with a create-only put, so two instances that race for one email or one
 * key cannot both win, and a retry after a crash completes what the first call started.
 *
 * Announcing (publishing UserRegistered) is the registration's last step, and a retry completes
 * it like the others: until `user_announced` holds the user, every call with the idempotency key
 * announces again. The announcement must be idempotent itself (the actor publishes with a message
 * id derived from the user id, which the stream's duplicate window drops when it had landed);
 * once the marker is written, retries announce nothing. What stays open is in actor.ts.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import { type User, UserSchema } from "../../proto/gen/shop/v1/user_pb.ts";
import { isStateKey, openStateStore, stateKeyOf } from "../../runtime/mod.ts";

/** A registration, already validated and normalised. */
export interface Registration {
  readonly idempotencyKey: string;
  /** Trimmed, lower case. */
  readonly email: string;
  readonly displayName: string;
}

export interface UserStore {
  get(id: string): Promise<User | undefined>;
  /**
   * Creates the user, or returns the one an earlier call with the same idempotency key created.
   * Fails with `already_exists` when the email belongs to another registration, or when the key
   * was used for a different email.
   *
   * `announce` runs once the user is written, on the call that wrote it and on every later call
   * with the key until one of them has seen it succeed (so it may run more than once, also
   * concurrently: it must be idempotent). When it fails, so does the call, and a retry announces.
   */
  register(registration: Registration, announce: Announce): Promise<User>;
}

/** Tells the world a user registered (publishes UserRegistered); idempotent. */
export type Announce = (user: User) => Promise<void>;

export interface UserStoreOptions {
  /** Prefixes the bucket names, as it prefixes the actor's subjects. */
  readonly namespace: string;
  /** Makes the id of a new user; ids must be valid state keys. */
  readonly newId: () => string;
}

export const defaultUserStoreOptions: UserStoreOptions = {
  namespace: "",
  newId: () => `u-${crypto.randomUUID()}`,
};

/** How many times `register` re-reads a key it lost to a concurrent registration. */
const MAX_ATTEMPTS = 5;

export async function openUserStore(
  nc: NatsConnection,
  partial: Partial<UserStoreOptions> = {},
): Promise<UserStore> {
  const { namespace, newId } = { ...defaultUserStoreOptions, ...partial };
  const open = (bucket: string) => openStateStore(nc, { bucket, namespace, schema: UserSchema });
  const [byId, byEmail, byKey, announced] = await Promise.all([
    open("users"),
    open("user_emails"),
    open("user_registrations"),
    open("user_announced"),
  ]);

  return {
    async get(id) {
      // An id that cannot be a key was never handed out.
      return isStateKey(id) ? (await byId.get(id))?.value : undefined;
    },

    async register({ idempotencyKey, email, displayName }, announce) {
      const key = stateKeyOf(idempotencyKey);
      for (let attempt = 1; ; attempt++) {
        const earlier = await byKey.get(key);
        if (earlier !== undefined) {
          if (earlier.value.email !== email) {
            throw new ConnectError(
              "idempotency_key was already used to register a different email",
              Code.AlreadyExists,
            );
          }
          return await complete(earlier.value, key, earlier.revision, announce);
        }
        const user = create(UserSchema, { id: newId(), email, displayName, createdAt: timestampNow() });
        try {
          const keyRevision = await byKey.put(key, user, { expectedRevision: 0 });
          return await complete(user, key, keyRevision, announce);
        } catch (err) {
          // A concurrent call with the same key claimed it first: answer as that call does.
          if (!isConflict(err) || attempt >= MAX_ATTEMPTS) throw err;
        }
      }
    },
  };

  /**
   * Finishes the registration of `user`, whose idempotency key is claimed at `keyRevision`:
   * claims the email (or finds it claimed by this same user, on a retry), writes the user, then
   * announces it unless an earlier call did.
   */
  async function complete(user: User, key: string, keyRevision: number, announce: Announce): Promise<User> {
    const emailKey = stateKeyOf(user.email);
    const claimed = await byEmail.claim(emailKey, user);
    if (claimed.id !== user.id) {
      // Someone else holds the email: give the idempotency key back, so that it counts as unused
      // (a concurrent retry may have done so already).
      await byKey.delete(key, { expectedRevision: keyRevision }).catch((err: unknown) => {
        if (!isConflict(err)) throw err;
      });
      throw new ConnectError(
        `a user with the email "${user.email}" is already registered`,
        Code.AlreadyExists,
      );
    }
    await byId.claim(user.id, user);
    if ((await announced.get(user.id)) === undefined) {
      await announce(user);
      // A concurrent call with the same key may have written it first: both announced alike.
      await announced.claim(user.id, user);
    }
    return user;
  }
}

function isConflict(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Aborted;
}
