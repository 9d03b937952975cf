/**
 * SendEmail's dedupe records: one per dedupe key in a JetStream KV bucket (`email_sent`) that
 * every instance of the email actor shares and that outlives restarts, so a repeated key sends
 * nothing again, whichever instance it reaches and however long after (within the TTL).
 *
 * Sending is claimed before it starts: an instance writes the key create-only (a claim with the
 * email id and the time), sends, then writes the key again with the time the mail server took
 * the email. Of two instances that get the same key at once, one claims it and sends; the other
 * waits for the outcome (a watch of the key) and answers with the same email. A send that fails
 * gives the key back (the claim is deleted), so a retry sends.
 *
 * What remains (SMTP has no transactions, so no design can close it entirely):
 * - An instance that dies while sending leaves its claim behind; once the claim is older than
 *   `claimLeaseMs`, the next request with the key takes it over and sends, with the same email id
 *   and so the same Message-ID. If the dead instance had got the mail server's `250` before it
 *   died, that is a second mail (mail systems that drop a repeated Message-ID show it once).
 * - A send that outlasts the lease (a mail server that answers slowly, but within the socket
 *   timeout at each step) can be taken over while it is still running. The lease is far longer
 *   than the SMTP timeouts to make that unlikely; leases are compared with this host's clock, so
 *   clock skew between hosts shortens or lengthens them.
 * - A send that fails and whose claim cannot be deleted (KV unavailable at that moment) blocks
 *   the key until the lease expires.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type SentEmailRecord,
  SentEmailRecordSchema,
} from "../../proto/gen/shop/email/state/v1/email_state_pb.ts";
import {
  errorFields,
  type Logger,
  openStateStore,
  type StateStore,
  silentLogger,
  stateKeyOf,
} from "../../runtime/mod.ts";

export interface SentEmailsOptions {
  /** Prefixes the bucket name, as it prefixes the actor's subjects. */
  readonly namespace: string;
  /** How long a dedupe key is remembered after its email was sent, in milliseconds. */
  readonly ttlMs: number;
  /**
   * How long a claim holds, in milliseconds: a key claimed longer ago and still not recorded as
   * sent is taken to be abandoned (its instance died) and is sent again. Keep it well above the
   * longest send (the mailer's connect and socket timeouts).
   */
  readonly claimLeaseMs: number;
  /** Told when a sent email could not be recorded. */
  readonly logger: Logger;
}

export const defaultSentEmailsOptions: SentEmailsOptions = {
  namespace: "",
  ttlMs: 7 * 24 * 60 * 60_000,
  claimLeaseMs: 60_000,
  logger: silentLogger,
};

export interface SentEmails {
  /** The bucket's full name, namespace included. */
  readonly bucket: string;
  /**
   * Runs `send(emailId)` for the first request with `dedupeKey` and answers with the email id;
   * later requests (on any instance, after restarts) answer with that id and send nothing. A
   * request that finds the key being sent waits for that send; when the send fails, the key is
   * free again and the failure reaches the caller whose send it was.
   */
  once(dedupeKey: string, send: (emailId: string) => Promise<void>): Promise<string>;
}

/**
 * How many times `once` re-reads a key that another instance wrote between its read and its
 * write; beyond that it gives up with `aborted` (a retry is safe).
 */
const MAX_ATTEMPTS = 10;

/** Checks the options; throws RangeError for a bad one. */
export function resolveSentEmailsOptions(partial: Partial<SentEmailsOptions> = {}): SentEmailsOptions {
  const options: SentEmailsOptions = { ...defaultSentEmailsOptions, ...partial };
  for (const key of ["ttlMs", "claimLeaseMs"] as const) {
    if (!Number.isSafeInteger(options[key]) || options[key] <= 0) {
      throw new RangeError(`${key} must be a whole number of milliseconds > 0, got ${options[key]}`);
    }
  }
  if (options.claimLeaseMs >= options.ttlMs) {
    throw new RangeError(
      `claimLeaseMs (${options.claimLeaseMs}) must be shorter than ttlMs (${options.ttlMs})`,
    );
  }
  return options;
}

/** Opens (creating it if needed) the bucket of dedupe records. */
export async function openSentEmails(
  nc: NatsConnection,
  partial: Partial<SentEmailsOptions> = {},
): Promise<SentEmails> {
  const { namespace, ttlMs, claimLeaseMs, logger } = resolveSentEmailsOptions(partial);
  const store = await openStateStore(nc, {
    bucket: "email_sent",
    namespace,
    schema: SentEmailRecordSchema,
    ttlMs,
  });
  // Requests of this instance for a key it is working on share that work.
  const inFlight = new Map<string, Promise<string>>();

  const settle = async (dedupeKey: string, send: (emailId: string) => Promise<void>): Promise<string> => {
    const key = stateKeyOf(dedupeKey);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const entry = await store.get(key);
      if (entry === undefined) {
        const claim = claimOf(`e-${crypto.randomUUID()}`);
        const revision = await claimed(store.put(key, claim, { expectedRevision: 0 }));
        if (revision !== undefined) return sendClaimed(key, claim, revision, send);
        continue;
      }
      const record = entry.value;
      if (record.sentAt !== undefined) return record.emailId;
      const heldMs = Date.now() - millisOf(record);
      if (heldMs >= claimLeaseMs) {
        // Abandoned: send it again, as the same email.
        const claim = claimOf(record.emailId);
        const revision = await claimed(store.put(key, claim, { expectedRevision: entry.revision }));
        if (revision !== undefined) return sendClaimed(key, claim, revision, send);
        continue;
      }
      await changeOf(store, key, entry.revision, claimLeaseMs - heldMs);
    }
    throw new ConnectError(
      `dedupe_key "${dedupeKey}" kept changing while this request waited for it; try again`,
      Code.Aborted,
    );
  };

  /** Sends the email whose key this instance claimed at `revision`, and records that it was sent. */
  const sendClaimed = async (
    key: string,
    claim: SentEmailRecord,
    revision: number,
    send: (emailId: string) => Promise<void>,
  ): Promise<string> => {
    const { emailId } = claim;
    try {
      await send(emailId);
    } catch (err) {
      // Give the key back so that a retry sends. If this fails, the claim blocks the key until
      // its lease expires.
      await store.delete(key, { expectedRevision: revision }).catch(() => {});
      throw err;
    }
    // Unconditional: an instance that took over a claim this one held too long sends the same
    // email id, and either write says the same.
    await store.put(key, { ...claim, sentAt: timestampNow() }).catch((err: unknown) => {
      // The email went out: the caller gets its id. The claim stays, so a later request for
      // this key waits for the lease to run out and then sends it again.
      logger.log("error", "an email was sent but could not be recorded as sent", {
        bucket: store.bucket,
        emailId,
        ...errorFields(err),
      });
    });
    return emailId;
  };

  return {
    bucket: store.bucket,
    once(dedupeKey, send) {
      const earlier = inFlight.get(dedupeKey);
      if (earlier !== undefined) return earlier;
      const outcome = settle(dedupeKey, send).finally(() => inFlight.delete(dedupeKey));
      inFlight.set(dedupeKey, outcome);
      return outcome;
    },
  };
}

function claimOf(emailId: string): SentEmailRecord {
  return create(SentEmailRecordSchema, { emailId, claimedAt: timestampNow() });
}

function millisOf(record: SentEmailRecord): number {
  return record.claimedAt === undefined ? 0 : timestampDate(record.claimedAt).getTime();
}

/** The revision a create-only or conditional write made, or undefined when another writer won. */
async function claimed(write: Promise<number>): Promise<number | undefined> {
  try {
    return await write;
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Aborted) return undefined;
    throw err;
  }
}

/**
 * Resolves once `key` is past `revision` (written or deleted by its claimer), or after
 * `timeoutMs` (the claim's lease ran out).
 */
async function changeOf(
  store: StateStore<typeof SentEmailRecordSchema>,
  key: string,
  revision: number,
  timeoutMs: number,
): Promise<void> {
  const watch = await store.watch([key]);
  const timer = setTimeout(() => watch.stop(), timeoutMs);
  try {
    for await (const change of watch) if (change.revision > revision) return;
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
}
