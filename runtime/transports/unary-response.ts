/**
 * Reading a unary reply into Connect's UnaryResponse. Most replies carry no headers at all; for
 * those, the response's (empty) header and trailer objects are created only if someone looks.
 */
import type { DescMessage, DescMethodUnary, DescService, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryResponse } from "@connectrpc/connect";
import type { Msg } from "@nats-io/nats-core";
import { type Codec, type CodecOptions, decodeMessage } from "../protocol/codec.ts";
import { decodeErrorReply } from "../protocol/errors.ts";
import { Header } from "../protocol/headers.ts";
import { metadataOf, natsHeader } from "../protocol/metadata.ts";

/** An error reply rejects (throws); otherwise the decoded message and its metadata. */
export function unaryResponse<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  msg: Msg,
  codec: Codec,
  codecOptions: CodecOptions,
): UnaryResponse<I, O> {
  const hdrs = msg.headers;
  if (hdrs === undefined) return new BareUnaryResponse(method, decodeReply(method, msg, codec, codecOptions));
  const { header, trailer } = metadataOf(hdrs);
  const status = natsHeader(hdrs, Header.serviceErrorCode);
  if (status !== undefined) {
    throw decodeErrorReply(status, natsHeader(hdrs, Header.serviceError), msg.data, header);
  }
  const message = decodeReply(method, msg, codec, codecOptions);
  return { stream: false, service: method.parent, method, header, message, trailer };
}

function decodeReply<O extends DescMessage>(
  method: DescMethodUnary<DescMessage, O>,
  msg: Msg,
  codec: Codec,
  codecOptions: CodecOptions,
): MessageShape<O> {
  try {
    return decodeMessage(method.output, codec, msg.data, codecOptions);
  } catch (err) {
    throw new ConnectError(`invalid reply: ${(err as Error).message}`, Code.Internal);
  }
}

class BareUnaryResponse<I extends DescMessage, O extends DescMessage> implements UnaryResponse<I, O> {
  readonly stream = false;
  readonly service: DescService;
  readonly method: DescMethodUnary<I, O>;
  readonly message: MessageShape<O>;
  #header: Headers | undefined;
  #trailer: Headers | undefined;

  constructor(method: DescMethodUnary<I, O>, message: MessageShape<O>) {
    this.service = method.parent;
    this.method = method;
    this.message = message;
  }

  get header(): Headers {
    this.#header ??= new Headers();
    return this.#header;
  }

  get trailer(): Headers {
    this.#trailer ??= new Headers();
    return this.#trailer;
  }
}
