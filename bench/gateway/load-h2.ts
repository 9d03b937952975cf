/**
 * HTTP/2 load for the Connect peer, since autocannon speaks only HTTP/1.1: a closed loop of
 * `concurrency` workers spread over `sessions` node:http2 sessions (h2c), each sending its next
 * Connect unary call (`POST /shop.v1.ProductService/GetProduct`, binary protobuf, the
 * connect-node client's default) as soon as the last answer has been read whole. A first call
 * (not timed) fetches the expected response and checks it is the product; every later response
 * must be 200 and as long as that one.
 */
import { type ClientHttp2Session, connect as connectHttp2 } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetProductRequestSchema, GetProductResponseSchema } from "../../proto/gen/shop/v1/product_pb.ts";
import type { LoadResult } from "./child-line.ts";
import { loadWindow } from "./load-window.ts";
import { BENCH_PRODUCT_ID } from "./product-handler.ts";

const PATH = "/shop.v1.ProductService/GetProduct";

export async function loadH2(
  target: string,
  concurrency: number,
  sessions: number,
  warmupSeconds: number,
  seconds: number,
): Promise<LoadResult> {
  const body = toBinary(GetProductRequestSchema, create(GetProductRequestSchema, { id: BENCH_PRODUCT_ID }));
  const open = await Promise.all(
    Array.from({ length: Math.min(sessions, concurrency) }, () => session(target)),
  );
  try {
    const first = await call(open[0] as ClientHttp2Session, body);
    const expected = first.status === 200 ? fromBinary(GetProductResponseSchema, first.body) : undefined;
    if (expected?.product?.id !== BENCH_PRODUCT_ID) {
      throw new Error(`${PATH} answered ${first.status}: ${new TextDecoder().decode(first.body)}`);
    }
    const expectedBytes = first.body.length;
    const window = loadWindow(warmupSeconds, seconds);
    const worker = async (s: ClientHttp2Session) => {
      while (!window.over) {
        const started = performance.now();
        try {
          const { status, body: received } = await call(s, body);
          window.record(performance.now() - started, status === 200 && received.length === expectedBytes);
        } catch {
          window.fail();
        }
      }
    };
    await Promise.all(
      Array.from({ length: concurrency }, (_, i) => worker(open[i % open.length] as ClientHttp2Session)),
    );
    return window.result(concurrency);
  } finally {
    for (const s of open) s.destroy();
  }
}

function session(target: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connectHttp2(target);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function call(s: ClientHttp2Session, body: Uint8Array): Promise<{ status: number; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const stream = s.request({
      ":method": "POST",
      ":path": PATH,
      "content-type": "application/proto",
      "connect-protocol-version": "1",
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.once("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () =>
      resolve({ status, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) }),
    );
    stream.once("error", reject);
    stream.end(body);
  });
}
