/**
 * JetStream's errors in Troupe's one currency, ConnectError (docs/contributing.md rule 4): the only file that
 * reads nats.js error classes and JetStream API codes for the jetstream/ modules, streams,
 * consumers and KV state alike. Errors it does not recognise pass through unchanged, so a host
 * reports them as `internal` without showing their text to callers.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";
import { isPayloadTooLarge } from "../protocol/errors.ts";

/** JetStream API error codes Troupe tells apart (nats-server `server/errors.json`). */
const ApiCode = {
  streamNameInUse: 10058,
  messageTooLarge: 10054,
  /** JSStreamDuplicateMessageConflict: "duplicate message id is in process". */
  duplicateInProcess: 10158,
} as const;

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

export function isConsumerNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}

/** A concurrent start created the stream first (create lost the race). */
export function isStreamNameInUse(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === ApiCode.streamNameInUse;
}

/** A conditional write (KV `create`, or a put with an expected revision) did not match. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * A clustered stream's leader is still storing an earlier publish with the same message id (it
 * has proposed it to its replicas, which have not yet applied it) and will not answer for this one
 * until then. Asked again a moment later, it answers with a duplicate ack (publish-ack.ts retries).
 */
export function isDuplicateInProcess(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === ApiCode.duplicateInProcess;
}

/**
 * `unavailable` for a publish whose id an earlier publish still held when the time was up: the
 * message will most likely be stored by that publish; publishing again with the same id is safe.
 */
export function stillInProcess(subject: string, id: string, cause?: unknown): ConnectError {
  return new ConnectError(
    `JetStream is still storing an earlier publish of message id "${id}" on ${subject}; ` +
      "publish it again (same id) to learn the outcome",
    Code.Unavailable,
    undefined,
    undefined,
    cause,
  );
}

/**
 * The ConnectError for a publish to `subject` that JetStream did not acknowledge. Whether a
 * message was stored is unknown after `unavailable` or `deadline_exceeded`; publishing it again
 * with the same id is safe within the stream's duplicate window.
 */
export function publishFailed(err: unknown, subject: string, bytes: number): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isPayloadTooLarge(err)) {
    return new ConnectError(
      `a message of ${bytes} bytes on ${subject} exceeds the NATS server's max_payload`,
      Code.ResourceExhausted,
    );
  }
  if (err instanceof JetStreamApiError) {
    if (err.code === ApiCode.messageTooLarge) {
      return new ConnectError(
        `a message of ${bytes} bytes on ${subject} exceeds its stream's maximum message size`,
        Code.ResourceExhausted,
        undefined,
        undefined,
        err,
      );
    }
    // An id still being stored by an earlier publish will be stored: asking again is the remedy.
    const code =
      err.status === 503 || err.code === ApiCode.duplicateInProcess
        ? Code.Unavailable
        : Code.FailedPrecondition;
    return new ConnectError(`JetStream refused ${subject}: ${err.message}`, code, undefined, undefined, err);
  }
  if (err instanceof TimeoutError) {
    return new ConnectError(
      `JetStream did not acknowledge ${subject} in time`,
      Code.DeadlineExceeded,
      undefined,
      undefined,
      err,
    );
  }
  // nats.js reports "no responders" to a JetStream publish as JetStreamNotEnabled.
  if (isNoResponders(err)) return noStreamTook(subject, err);
  return ConnectError.from(err, Code.Unavailable);
}

/**
 * `unavailable` for a publish that NATS answered with "no responders": no stream listens on the
 * subject, or JetStream is not (yet) up, e.g. while a server restarts.
 */
export function noStreamTook(subject: string, cause?: unknown): ConnectError {
  return new ConnectError(
    `no JetStream stream took ${subject}: the stream does not exist (declare it where the actor ` +
      `publishes) or JetStream is not available right now`,
    Code.Unavailable,
    undefined,
    undefined,
    cause,
  );
}

/** True when `err` or one of its causes is NATS's "no responders". */
function isNoResponders(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof NoRespondersError) return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
  }
  return false;
}

/**
 * `aborted`, naming the key and both revisions: `expected` is what the writer assumed (0: that
 * the key did not exist), the actual one comes from the server's answer when it says it.
 */
export function revisionConflict(where: string, expected: number | undefined, cause?: unknown): ConnectError {
  const actual = /wrong last sequence: (\d+)/.exec(cause instanceof Error ? cause.message : "")?.[1];
  const assumed =
    expected === undefined
      ? "a conditional write failed"
      : expected === 0
        ? "expected it not to exist"
        : `expected revision ${expected}`;
  const found =
    actual === undefined
      ? "but it changed"
      : actual === "0"
        ? "but it does not exist"
        : `but it is at revision ${actual}`;
  return new ConnectError(`${where}: ${assumed}, ${found}`, Code.Aborted, undefined, undefined, cause);
}

/** `data_loss`: a stored value that is not a message of the bucket's schema. */
export function undecodableValue(where: string, typeName: string, cause: unknown): ConnectError {
  const reason = cause instanceof Error ? `: ${cause.message}` : "";
  return new ConnectError(
    `${where}: the stored value is not a valid ${typeName}${reason}`,
    Code.DataLoss,
    undefined,
    undefined,
    cause,
  );
}

/**
 * The ConnectError for a failed KV operation, or `err` itself when it is none of the carrier's
 * known failures. `opening` says the bucket was being created or bound: JetStream missing then
 * is a configuration problem (`failed_precondition`); later it is a server that went away
 * (`unavailable`, which callers may retry).
 */
export function stateError(err: unknown, where: string, opening = false): unknown {
  if (err instanceof ConnectError) return err;
  const fail = (message: string, code: Code) =>
    new ConnectError(`${where}: ${message}`, code, undefined, undefined, err);
  if (isWrongLastSequence(err)) return revisionConflict(where, undefined, err);
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.JetStreamNotEnabledForAccount) {
    return fail("JetStream is not enabled for this account", Code.FailedPrecondition);
  }
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
    return fail("the bucket's stream does not exist (was it deleted?)", Code.FailedPrecondition);
  }
  if (isNotEnabled(err)) {
    return opening
      ? fail("JetStream is not enabled on the server; state needs it", Code.FailedPrecondition)
      : fail("JetStream did not answer", Code.Unavailable);
  }
  if (err instanceof TimeoutError) return fail("JetStream did not answer in time", Code.Unavailable);
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
    return fail("JetStream did not answer", Code.Unavailable);
  }
  if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) {
    return fail("the NATS connection is closed", Code.Unavailable);
  }
  return err;
}

/**
 * The server (or the account) has no JetStream at all: not a failure that passes, but how the
 * system is set up. A server restarting its JetStream answers with a timeout or a 503 instead.
 */
export function isJetStreamMissing(err: unknown): boolean {
  if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.JetStreamNotEnabledForAccount) {
    return true;
  }
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (isNotEnabled(e)) return true;
  }
  return false;
}

/**
 * The client reports a JetStream API without responders as `JetStreamNotEnabled`, a class that
 * @nats-io/jetstream does not export: it is recognised by its name.
 */
function isNotEnabled(err: unknown): boolean {
  return err instanceof Error && err.name === "JetStreamNotEnabled";
}

/**
 * A JetStream API request at declaration time (a stream, consumer or bucket created or checked
 * at start) that may succeed when made again: no answer in time (on a cluster a request can go
 * unanswered while a new replicated stream elects its leader), a cluster still placing
 * replicas, or JetStream's own 503 ("temporarily unavailable"). "No responders" is not among
 * them: it is also how a server without JetStream answers, and that start should fail at once.
 */
export function isTransientDeclarationError(err: unknown): boolean {
  if (err instanceof ConnectError) return false;
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof TimeoutError) return true;
  }
  if (err instanceof JetStreamApiError) {
    return err.status === 503 || /no suitable peers|temporarily unavailable/i.test(err.message);
  }
  return false;
}
