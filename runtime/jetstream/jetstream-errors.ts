/**
 * JetStream's errors in Troupe's one currency, ConnectError (STYLE.md rule 4): the only file that
 * reads nats.js error classes and JetStream API codes for the jetstream/ modules.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { NoRespondersError, RequestError, TimeoutError } from "@nats-io/nats-core";

/** JetStream API error codes Troupe tells apart (nats-server `server/errors.json`). */
const ApiCode = {
  streamNameInUse: 10058,
  messageTooLarge: 10054,
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

/** A KV `create` found the key already there. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * The ConnectError for a publish to `subject` that JetStream did not acknowledge. Whether a
 * message was stored is unknown after `unavailable` or `deadline_exceeded`; publishing it again
 * with the same id is safe within the stream's duplicate window.
 */
export function publishFailed(err: unknown, subject: string, bytes: number): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof Error && err.message.includes("max_payload")) {
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
    const code = err.status === 503 ? Code.Unavailable : Code.FailedPrecondition;
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
  if (isNoResponders(err)) {
    // nats.js reports "no responders" to a JetStream publish as JetStreamNotEnabled: no stream
    // listens on the subject, or JetStream is not (yet) up, e.g. while a server restarts.
    return new ConnectError(
      `no JetStream stream took ${subject}: the stream does not exist (declare it where the actor ` +
        `publishes) or JetStream is not available right now`,
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
  return ConnectError.from(err, Code.Unavailable);
}

/** True when `err` or one of its causes is NATS's "no responders". */
function isNoResponders(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof NoRespondersError) return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
  }
  return false;
}
