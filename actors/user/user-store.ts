/**
 * The user actor's accounts, in memory: users by id, the email index that keeps emails unique,
 * and the idempotency keys of RegisterUser. `register` applies the contract's rules atomically
 * (it never awaits), so two concurrent registrations cannot both take one email.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { User } from "../../proto/gen/shop/v1/user_pb.ts";
import { UserSchema } from "../../proto/gen/shop/v1/user_pb.ts";

/** A registration, already validated and normalised. */
export interface Registration {
  readonly idempotencyKey: string;
  /** Trimmed, lower case. */
  readonly email: string;
  readonly displayName: string;
}

export interface UserStore {
  get(id: string): User | undefined;
  /**
   * Creates the user, or returns the one an earlier call with the same idempotency key created.
   * Throws `already_exists` when the email belongs to another registration, or when the key was
   * used for a different email.
   */
  register(registration: Registration): User;
}

export function createUserStore(newId: () => string = () => `u-${crypto.randomUUID()}`): UserStore {
  const byId = new Map<string, User>();
  const byEmail = new Map<string, User>();
  const byKey = new Map<string, User>();
  return {
    get: (id) => byId.get(id),
    register({ idempotencyKey, email, displayName }) {
      const earlier = byKey.get(idempotencyKey);
      if (earlier !== undefined) {
        if (earlier.email !== email) {
          throw new ConnectError(
            "idempotency_key was already used to register a different email",
            Code.AlreadyExists,
          );
        }
        return earlier;
      }
      if (byEmail.has(email)) {
        throw new ConnectError(`a user with the email "${email}" is already registered`, Code.AlreadyExists);
      }
      const user = create(UserSchema, { id: newId(), email, displayName, createdAt: timestampNow() });
      byId.set(user.id, user);
      byEmail.set(email, user);
      byKey.set(idempotencyKey, user);
      return user;
    },
  };
}
