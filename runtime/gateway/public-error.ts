/**
 * What a caller outside may learn of a failure. Codes an actor chooses for its callers
 * (`not_found`, `invalid_argument`, …) pass through with their message and details; failures of
 * the system itself (`internal`, `unknown`, `data_loss`, `unavailable`) keep their code but get a
 * generic message, since theirs can name subjects, hosts or exceptions. Error metadata (headers
 * and trailers of the actor's reply) never leaves the gateway. Anything that is not a
 * ConnectError is `internal`.
 */
import { Code, ConnectError } from "@connectrpc/connect";

const GENERIC: Partial<Record<Code, string>> = {
  [Code.Internal]: "internal error",
  [Code.Unknown]: "internal error",
  [Code.DataLoss]: "internal error",
  [Code.Unavailable]: "the service is unavailable, try again later",
};

/** The error to send; `hidden` is true when the original should be logged, since it was replaced. */
export function publicError(err: unknown): { error: ConnectError; hidden: boolean } {
  if (!(err instanceof ConnectError)) {
    return { error: new ConnectError("internal error", Code.Internal), hidden: true };
  }
  const generic = GENERIC[err.code];
  if (generic !== undefined) return { error: new ConnectError(generic, err.code), hidden: true };
  const error = new ConnectError(err.rawMessage, err.code);
  error.details.push(...err.details);
  return { error, hidden: false };
}
