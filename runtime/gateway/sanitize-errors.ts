/**
 * A Connect server interceptor that sends callers only what public-error.ts allows, for unary
 * calls and for errors that end a stream, and logs what it hid.
 */
import type { Interceptor, StreamResponse } from "@connectrpc/connect";
import { errorFields, type Logger } from "../observability/logger.ts";
import { Header } from "../protocol/headers.ts";
import { publicError } from "./public-error.ts";

export function sanitizeErrors(logger: Logger): Interceptor {
  const translate = (err: unknown, path: string, header: Headers) => {
    const { error, hidden } = publicError(err);
    if (hidden) {
      logger.log("error", "call failed", {
        method: path,
        requestId: header.get(Header.requestId),
        ...errorFields(err),
      });
    }
    return error;
  };
  return (next) => async (req) => {
    const path = `${req.service.typeName}/${req.method.name}`;
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      throw translate(err, path, req.header);
    }
    if (!res.stream) return res;
    const messages = res.message;
    async function* guarded() {
      try {
        yield* messages;
      } catch (err) {
        throw translate(err, path, req.header);
      }
    }
    return { ...res, message: guarded() } as StreamResponse;
  };
}
