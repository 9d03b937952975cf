/**
 * The user actor's accounts, in JetStream KV buckets that every instance shares:
 *
 *   users               user id → User
 *   user_emails         email → User who holds it (the index that keeps emails unique)
 *   user_registrations  RegisterUser idempotency key → User it registered
 *   user_unannounced    user id → User, from just before the user is written until its
 *                       registration is announced (the outbox that `announcePending` sweeps)
 *   user_announced      user id → User, once its registration was announced (UserRegistered)
 *
 * Emails and idempotency keys are any text, so their keys are `stateKeyOf(text)`. There is no
 * transaction over several keys: a registration claims the idempotency key, then the email, then
 * writes the outbox entry and the user, each with a create-only put, so two instances that race
 * for one email or one key cannot both win, and a retry after a crash completes what the first
 * call started. Once the email is claimed the registration is decided: every later step writes
 * what a retry would write.
 *
 * Announcing (publishing UserRegistered) is the registration's last step, and a retry completes
 * it like the others: until `user_announced` holds the user, every call with the idempotency key
 * announces again. The announcement must be idempotent itself (the actor publishes with a message
 * id derived from the user id, which the stream's duplicate window drops when it had landed);
 * once the marker is written, retries announce nothing.
 *
 * A call that dies after the email claim and is never retried leaves its outbox entry, and
 * `announcePending` (which every instance runs periodically, actor.ts) completes it: writes the
 * user if the call had not, announces, marks, and removes the entry. The outbox is written
 * before the user, so no user can exist unannounced without an entry. It is a bucket of its own,
 * emptied with `forget` (no delete markers), so a sweep reads the few registrations in flight or
 * left behind, not every user ever registered (which `users` minus `user_announced` would cost).
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ActorContext } from "troupe";
import { isStateKey, stateKeyOf } from "troupe/jetstream";
import { type User, UserSchema } from "../../proto/gen/shop/v1/user_pb.ts";

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
  /**
   * Announces the registrations whose call left them unannounced (the outbox), except those
   * created at or after `createdBefore` (epoch ms), which a call may still be completing. Safe to
   * run from several instances at once, and alongside `register`: every step is a first-writer-
   * wins claim or a removal, and `announce` must be idempotent (as for `register`).
   */
  announcePending(announce: Announce, createdBefore: number): Promise<PendingSweep>;
}

/** What one `announcePending` pass found in the outbox, by user id. */
export interface PendingSweep {
  /** Announced by this pass: their call died (or failed) after the email claim. */
  readonly announced: readonly string[];
  /** Already announced (their call died before removing the entry): entry removed. */
  readonly cleared: readonly string[];
  /** Younger than the grace period: left to their call. */
  readonly waiting: readonly string[];
  /** Whose announcement failed; the next pass tries again. */
  readonly failed: readonly { readonly userId: string; readonly error: unknown }[];
}

/** Tells the world a user registered (publishes UserRegistered); idempotent. */
export type Announce = (user: User) => Promise<void>;

/** How many times `register` re-reads a key it lost to a concurrent registration. */
const MAX_ATTEMPTS = 5;

export async function openUserStore(ctx: Pick<ActorContext, "state">): Promise<UserStore> {
  const open = (bucket: string) => ctx.state(bucket, UserSchema);
  const [byId, byEmail, byKey, unannounced, announced] = await Promise.all([
    open("users"),
    open("user_emails"),
    open("user_registrations"),
    open("user_unannounced"),
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
        const id = `u-${crypto.randomUUID()}`;
        const user = create(UserSchema, { id, email, displayName, createdAt: timestampNow() });
        const keyRevision = await byKey.create(key, user);
        if (keyRevision !== undefined) return await complete(user, key, keyRevision, announce);
        // A concurrent call with the same key claimed it first: answer as that call does.
        if (attempt >= MAX_ATTEMPTS) {
          throw new ConnectError("idempotency_key kept changing during the registration", Code.Aborted);
        }
      }
    },

    async announcePending(announce, createdBefore) {
      const sweep = { announced: [] as string[], cleared: [] as string[], waiting: [] as string[] };
      const failed: { userId: string; error: unknown }[] = [];
      // One at a time: the outbox holds the few registrations in flight or left behind.
      for (const id of await unannounced.keys()) {
        try {
          const pending = (await unannounced.get(id))?.value;
          if (pending === undefined) continue; // completed meanwhile
          if ((await announced.get(id)) !== undefined) {
            await unannounced.forget(id);
            sweep.cleared.push(id);
          } else if (createdMs(pending) >= createdBefore) {
            sweep.waiting.push(id);
          } else {
            // The email is claimed for this user, so the registration is decided: write the
            // user (its call may have died before) and announce it, as a retry would.
            await byId.claim(id, pending);
            await announceOnce(pending, announce);
            sweep.announced.push(id);
          }
        } catch (error) {
          failed.push({ userId: id, error });
        }
      }
      return { ...sweep, failed };
    },
  };

  /**
   * Finishes the registration of `user`, whose idempotency key is claimed at `keyRevision`:
   * claims the email (or finds it claimed by this same user, on a retry), writes the outbox
   * entry and the user, then announces it, unless an earlier call did all that.
   */
  async function complete(user: User, key: string, keyRevision: number, announce: Announce): Promise<User> {
    const emailKey = stateKeyOf(user.email);
    const claimed = await byEmail.claim(emailKey, user);
    if (claimed.id !== user.id) {
      // Someone else holds the email: give the idempotency key back, so that it counts as unused
      // (a concurrent retry may have done so already).
      await byKey.delete(key, { expectedRevision: keyRevision }).catch((err: unknown) => {
        if (!(err instanceof ConnectError && err.code === Code.Aborted)) throw err;
      });
      throw new ConnectError(
        `a user with the email "${user.email}" is already registered`,
        Code.AlreadyExists,
      );
    }
    // The marker is written after the user: a marked registration is complete.
    if ((await announced.get(user.id)) !== undefined) return user;
    // Always the same value for one user, so a plain put: a claim could meet an entry that a
    // concurrent call removes between its two steps.
    await unannounced.put(user.id, user);
    await byId.claim(user.id, user);
    await announceOnce(user, announce);
    return user;
  }

  /**
   * Announces `user`, marks it announced and removes its outbox entry. A concurrent call, retry
   * or sweep may do the same at the same time: both announce alike, the first marker wins, and
   * removing an entry twice is harmless. A crash between the steps leaves the entry, so the
   * registration is announced again (by a retry or a sweep) or, once marked, just cleared.
   */
  async function announceOnce(user: User, announce: Announce): Promise<void> {
    await announce(user);
    await announced.claim(user.id, user);
    await unannounced.forget(user.id);
  }
}

/** When the registration of `user` began (its first call), in epoch milliseconds. */
function createdMs(user: User): number {
  return user.createdAt === undefined ? 0 : timestampMs(user.createdAt);
}
