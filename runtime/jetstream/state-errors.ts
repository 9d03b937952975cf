/**
 * The state store's errors: the one place where NATS and JetStream errors of KV operations
 * become ConnectErrors (STYLE.md: a carrier's native errors are translated in exactly one file).
 * Errors this module does not recognise pass through unchanged, so that a host reports them as
 * `internal` without showing their text to callers.
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

/** True for JetStream's answer to a write whose expected revision did not match. */
export function isRevisionConflict(err: unknown): err is JetStreamApiError {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
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
  if (isRevisionConflict(err)) return revisionConflict(where, undefined, err);
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
 * The client reports a JetStream API without responders as `JetStreamNotEnabled`, a class that
 * @nats-io/jetstream does not export: it is recognised by its name.
 */
function isNotEnabled(err: unknown): boolean {
  return err instanceof Error && err.name === "JetStreamNotEnabled";
}
