/**
 * The HandlerContext of a unary call, built for the hot path: request headers, response headers
 * and trailers, the abort signal and context values are created only when a handler (or an
 * interceptor) asks for them. Connect's createHandlerContext allocates all of them, plus a timer,
 * on every call.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { type ContextValues, createContextValues } from "@connectrpc/connect";
import type { Msg } from "@nats-io/nats-core";
import { metadataOf } from "../protocol/metadata.ts";
import type { HostHandlerContext } from "./incoming-call.ts";

export const PROTOCOL_NAME = "nats";

export class UnaryContext implements HostHandlerContext {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly requestMethod = "POST";
  readonly protocolName = PROTOCOL_NAME;
  readonly url: string;
  /** `performance.now()` time by which the call must be answered, or undefined. */
  readonly deadline: number | undefined;
  /** The request: its headers are decoded only if the handler reads `requestHeader`. */
  private readonly msg: Msg;
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private _requestHeader: Headers | undefined;
  /** Created on first access; the host reads them back only if they exist. */
  _responseHeader: Headers | undefined;
  _responseTrailer: Headers | undefined;
  private _values: ContextValues | undefined;

  constructor(method: DescMethod, subject: string, msg: Msg, deadline: number | undefined) {
    this.method = method;
    this.service = method.parent;
    this.url = subject;
    this.msg = msg;
    this.deadline = deadline;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  timeoutMs = (): number | undefined =>
    this.deadline === undefined ? undefined : this.deadline - performance.now();

  get requestHeader(): Headers {
    this._requestHeader ??= metadataOf(this.msg.headers).header;
    return this._requestHeader;
  }

  get responseHeader(): Headers {
    this._responseHeader ??= new Headers();
    return this._responseHeader;
  }

  get responseTrailer(): Headers {
    this._responseTrailer ??= new Headers();
    return this._responseTrailer;
  }

  get values(): ContextValues {
    this._values ??= createContextValues();
    return this._values;
  }

  /**
   * The same context as a plain object with every field present. Connect's
   * invokeUnaryImplementation copies the context with Object.assign, which sees own properties
   * only; the interceptor path therefore gets this (and pays for the allocations it implies).
   */
  materialize(): HostHandlerContext {
    return {
      method: this.method,
      service: this.service,
      requestMethod: this.requestMethod,
      protocolName: this.protocolName,
      url: this.url,
      timeoutMs: this.timeoutMs,
      signal: this.signal,
      requestHeader: this.requestHeader,
      responseHeader: this.responseHeader,
      responseTrailer: this.responseTrailer,
      values: this.values,
      abort: (reason) => this.abort(reason),
    };
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
