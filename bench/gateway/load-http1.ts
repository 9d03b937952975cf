/**
 * HTTP/1.1 load for the REST peers (the gateway and in-process Hono): autocannon 9's
 * programmatic API, `connections` keep-alive connections with one request in flight on each
 * (pipelining 1), all asking `GET <target>/v1/products/<id>`. A first request (not timed) fetches
 * the expected body and checks it is the product; autocannon then counts every response with
 * another body as a mismatch, which fails the measurement. Latencies come from autocannon's
 * per-response event (float ms), not its 1 ms histogram.
 */
import { createRequire } from "node:module";
import type { LoadResult } from "./child-line.ts";
import { loadWindow } from "./load-window.ts";
import { BENCH_PRODUCT_ID } from "./product-handler.ts";

/** The slice of autocannon's API used here (the package ships no types). */
type Autocannon = (
  options: {
    url: string;
    connections: number;
    pipelining: number;
    duration: number;
    expectBody: string;
  },
  done: (
    err: Error | null,
    result: { errors: number; timeouts: number; mismatches: number; non2xx: number },
  ) => void,
) => {
  on(event: "response", listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
};

// A CommonJS package without types: loaded with require and given the type above.
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

export async function loadHttp1(
  target: string,
  connections: number,
  warmupSeconds: number,
  seconds: number,
): Promise<LoadResult> {
  const url = `${target}/v1/products/${BENCH_PRODUCT_ID}`;
  const first = await fetch(url);
  const expected = await first.text();
  if (
    first.status !== 200 ||
    (JSON.parse(expected) as { product?: { id?: string } }).product?.id !== BENCH_PRODUCT_ID
  ) {
    throw new Error(`GET ${url} answered ${first.status}: ${expected}`);
  }
  const window = loadWindow(warmupSeconds, seconds);
  const summary = await new Promise<{ errors: number; timeouts: number; mismatches: number; non2xx: number }>(
    (resolve, reject) => {
      const instance = autocannon(
        { url, connections, pipelining: 1, duration: warmupSeconds + seconds, expectBody: expected },
        (err, result) => (err === null ? resolve(result) : reject(err)),
      );
      instance.on("response", (_client, status, _bytes, ms) => window.record(ms, status === 200));
    },
  );
  const result = window.result(connections);
  return { ...result, errors: summary.errors + summary.timeouts + summary.mismatches + summary.non2xx };
}
