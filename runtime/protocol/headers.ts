/**
 * Header names and values of Troupe's wire contract (docs/adr/0004-rpc-over-nats.md). NATS
 * headers carry what HTTP headers carry for Connect: the content type, the timeout, request and
 * response metadata, and, prefixed with `trailer-`, trailers (as Connect's unary protocol does).
 * Names are lower case, as Connect and fetch `Headers` spell them; the NATS micro error headers
 * keep the exact case that NATS tools expect.
 */
export const Header = {
  /** `application/proto` (the default when absent) or `application/json`. */
  contentType: "content-type",
  /** The caller's remaining time in milliseconds; the server enforces it too. */
  timeoutMs: "connect-timeout-ms",
  /** Set on every error reply: an HTTP-style status from the Connect code (ADR-32). */
  serviceErrorCode: "Nats-Service-Error-Code",
  /** Set on every error reply: the error message (ADR-32). */
  serviceError: "Nats-Service-Error",
  /** Stream frames: what the frame is (see StreamFrame). */
  frame: "troupe-frame",
  /** Stream frames: the sequence number of a message frame, from 1, per direction. */
  seq: "troupe-seq",
  /** Stream frames: messages the receiver is ready for, in addition to those granted before. */
  credit: "troupe-credit",
  /**
   * Events and jobs: the absolute deadline in epoch milliseconds; a message still waiting after
   * it is dead-lettered, not handled (docs/adr/0007-events-queues-and-dead-letters.md).
   */
  deadline: "troupe-deadline",
  /** Jobs: the ordering key (an event carries its key in its subject). */
  key: "troupe-key",
  /**
   * Calls: pins the call to the instances of one version of the called service (`1.1.0`); wins
   * over the caller's weighted routing (docs/adr/0012-discovery-direct-calls-and-traffic.md). The
   * gateway forwards it from HTTP; it also reaches the handler as ordinary metadata.
   */
  version: "troupe-version",
  /**
   * Keyed actors: a state-changing call with this header is applied once; a retry with the same
   * value gets the first reply (docs/adr/0032-keyed-virtual-actors.md).
   */
  idempotencyKey: "idempotency-key",
  /**
   * Reminders of keyed actors: when the reminder was due, in epoch milliseconds; set on its
   * schedule and copied by the stream onto the fired message (runtime/jetstream/reminders.ts).
   */
  reminderDue: "troupe-reminder-due",
  /** JetStream's message id: the stream's duplicate window drops a republished id. */
  natsMsgId: "Nats-Msg-Id",
  /** JetStream KV's mark of a delete (`DEL`) or purge (`PURGE`) entry (NATS ADR-8). */
  kvOperation: "KV-Operation",
  /**
   * The message's own id where `Nats-Msg-Id` cannot carry it: on a dead letter (whose
   * Nats-Msg-Id de-duplicates the dead-lettering) and on a redriven message (which needs a fresh
   * Nats-Msg-Id to pass the duplicate window).
   */
  messageId: "troupe-msg-id",
  /** Dead letters: the subject the message was published on. */
  deadLetterSubject: "troupe-dlq-subject",
  /** Dead letters: the stream and sequence the message had there. */
  deadLetterStream: "troupe-dlq-stream",
  deadLetterSeq: "troupe-dlq-seq",
  /** Dead letters: the durable consumer that gave up on it. */
  deadLetterConsumer: "troupe-dlq-consumer",
  /** Dead letters: why, as a Connect code (`invalid_argument`, `deadline_exceeded`, …) and a message. */
  deadLetterCode: "troupe-dlq-code",
  deadLetterError: "troupe-dlq-error",
  /** Dead letters: how many times the message was delivered. */
  deadLetterDeliveries: "troupe-dlq-deliveries",
  /** Dead letters: when the message was first stored (ISO 8601). */
  deadLetterPublished: "troupe-dlq-published",
  /**
   * The id of one request through the gateway: taken from the caller when well-formed, made
   * otherwise; returned on every gateway response and forwarded to the actor
   * (docs/adr/0008-gateway.md).
   */
  requestId: "x-request-id",
  /** Set by the gateway only: the `sub` claim of the caller's verified JWT. */
  authSubject: "troupe-auth-subject",
  /** Set by the gateway only: every claim of the caller's verified JWT, as a JSON object. */
  authClaims: "troupe-auth-claims",
  /**
   * Set by the gateway only: `<expires at, epoch ms>.<signature>`, its nkey's ed25519 signature
   * of the identity and the method it is for, which actors verify so that an identity another
   * process wrote is not honoured (runtime/security/identity-signature.ts, docs/adr/0030-credentials-from-declarations.md).
   */
  authSignature: "troupe-auth-signature",
  /**
   * W3C trace context (https://www.w3.org/TR/trace-context/): the caller's or publisher's span,
   * written and read by the OpenTelemetry propagator (runtime/observability/tracing.ts), on RPC
   * requests, events and jobs alike (docs/adr/0014-tracing-and-metrics.md). Not protocol
   * headers: they pass through as metadata too (a gateway forwarding HTTP headers, a stream's
   * opener), and the propagator overwrites them with the active span when tracing is on.
   */
  traceparent: "traceparent",
  tracestate: "tracestate",
  /**
   * HTTP only, on the gateway's responses when tracing is on: the trace the request made
   * (`00-<trace id>-<span id>-<flags>`, W3C Trace Context Level 2), to look it up on the
   * dashboard's Traces page.
   */
  traceresponse: "traceresponse",
  /** W3C baggage (https://www.w3.org/TR/baggage/): forwarded by the gateway with the trace context. */
  baggage: "baggage",
  /** HTTP only: the caller's bearer token; read by the gateway, never forwarded to an actor. */
  authorization: "authorization",
} as const;

/**
 * Prefix (lower case) of the headers that only the gateway may set: a request from outside that
 * carries one has it removed, so identity cannot be spoofed.
 */
export const GATEWAY_IDENTITY_HEADER_PREFIX = "troupe-auth-";

/** Prefix of trailer names in a unary reply (Connect unary protocol). */
export const TRAILER_PREFIX = "trailer-";

export const ContentType = {
  proto: "application/proto",
  json: "application/json",
} as const;

/** Headers that belong to the protocol and are not passed to handlers as metadata. */
export const PROTOCOL_HEADERS: ReadonlySet<string> = new Set([
  Header.contentType,
  Header.timeoutMs,
  Header.serviceErrorCode.toLowerCase(),
  Header.serviceError.toLowerCase(),
  Header.frame,
  Header.seq,
  Header.credit,
  Header.deadline,
  Header.key,
  Header.natsMsgId.toLowerCase(),
  Header.messageId,
]);

/** Prefix of the headers that describe a dead letter (removed again when it is redriven). */
export const DEAD_LETTER_HEADER_PREFIX = "troupe-dlq-";

/** Prefix (lower case) of NATS's and JetStream's own headers: `Nats-Msg-Id`, `Nats-Expected-*`, … */
export const NATS_HEADER_PREFIX = "nats-";

/** The kinds of stream frames (docs/adr/0004-rpc-over-nats.md, "Streams"). */
export const StreamFrame = {
  /** Server → client, first frame: the call is accepted; reply subject = the server's call inbox. */
  open: "open",
  /** A message; body = one encoded message; `troupe-seq` numbers it. */
  message: "msg",
  /** The sender is done: client half-close, or server end with trailers or an error. */
  end: "end",
  /** Receiver → sender: `troupe-credit` more messages may be sent. */
  credit: "credit",
  /** Client → server: the caller gave up; the handler's signal fires. */
  cancel: "cancel",
  /** Either side, when idle: proves the peer's call inbox still exists (a 503 says it does not). */
  ping: "ping",
} as const;
export type StreamFrame = (typeof StreamFrame)[keyof typeof StreamFrame];
