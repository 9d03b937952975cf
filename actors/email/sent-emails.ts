/**
 * SendEmail's dedupe records: one per dedupe key in a JetStream KV bucket (`email_sent`) that
 * every instance of the email actor shares and that outlives restarts, so a repeated key sends
 * nothing again, whichever instance it reaches and however long after (within the TTL).
 *
 * Sending is claimed before it starts (StateStore.once): an instance writes the key create-only
 * (a claim with the email id and the time), sends, then writes the key again with the time the
 * mail server took the email. Of two instances that get the same key at once, one claims it and
 * sends; the other waits for the outcome (a watch of the key) and answers with the same email. A
 * send that fails gives the key back (the claim is deleted), so a retry sends.
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
import { type ActorContext, errorFields } from "troupe";
import { stateKeyOf } from "troupe/jetstream";
import { SentEmailRecordSchema } from "../../proto/gen/shop/email/state/v1/email_state_pb.ts";

export interface SentEmailsOptions {
  /** How long a dedupe key is remembered after its email was sent, in milliseconds. */
  readonly ttlMs: number;
  /**
   * How long a claim holds, in milliseconds: a key claimed longer ago and still not recorded as
   * sent is taken to be abandoned (its instance died) and is sent again. Keep it well above the
   * longest send (the mailer's connect and socket timeouts).
   */
  readonly claimLeaseMs: number;
}

export const defaultSentEmailsOptions: SentEmailsOptions = {
  ttlMs: 7 * 24 * 60 * 60_000,
  claimLeaseMs: 60_000,
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
  ctx: Pick<ActorContext, "state" | "logger">,
  partial: Partial<SentEmailsOptions> = {},
): Promise<SentEmails> {
  const { ttlMs, claimLeaseMs } = resolveSentEmailsOptions(partial);
  const store = await ctx.state("email_sent", SentEmailRecordSchema, { ttlMs });
  return {
    bucket: store.bucket,
    async once(dedupeKey, send) {
      const sent = await store.once(
        stateKeyOf(dedupeKey),
        {
          // An abandoned claim is sent again as the same email (the same Message-ID).
          claim: (abandoned) => ({
            emailId: abandoned?.emailId ?? `e-${crypto.randomUUID()}`,
            claimedAt: timestampNow(),
          }),
          claimedAt: (record) =>
            record.sentAt !== undefined
              ? undefined
              : record.claimedAt === undefined
                ? 0
                : timestampDate(record.claimedAt).getTime(),
          async run(claim) {
            await send(claim.emailId);
            return create(SentEmailRecordSchema, { ...claim, sentAt: timestampNow() });
          },
        },
        {
          leaseMs: claimLeaseMs,
          // The email went out: the caller gets its id. The claim stays, so a later request for
          // this key waits for the lease to run out and then sends it again.
          unrecorded: (err, sent) =>
            ctx.logger.log("error", "an email was sent but could not be recorded as sent", {
              bucket: store.bucket,
              emailId: sent.emailId,
              ...errorFields(err),
            }),
        },
      );
      return sent.emailId;
    },
  };
}
