/**
 * A page script for the browser test (tests/integration/gateway-browser.test.ts): from a page on
 * another origin it calls the gateway the way a web front end does, with connect-web's Connect
 * and gRPC-Web transports (a unary call and a server stream) and a REST fetch, and leaves what
 * it got, or the error, in `window.troupeResults` for the test to read.
 */
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ProductService } from "../../../proto/gen/shop/v1/product_pb.ts";

type Results = Record<string, string>;

const gateway = new URL(location.href).searchParams.get("gateway") ?? "";

function failure(err: unknown): string {
  if (err instanceof ConnectError) return `error ${err.code}: ${err.rawMessage}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

async function run(): Promise<Results> {
  const results: Results = {};
  const transports = {
    connect: createConnectTransport({ baseUrl: gateway }),
    grpcWeb: createGrpcWebTransport({ baseUrl: gateway }),
  };
  for (const [name, transport] of Object.entries(transports)) {
    const products = createClient(ProductService, transport);
    try {
      const { product } = await products.getProduct({ id: "p-1001" }, { timeoutMs: 5_000 });
      results[`${name}.unary`] = product?.id ?? "(none)";
    } catch (err) {
      results[`${name}.unary`] = failure(err);
    }
    try {
      const seen: string[] = [];
      for await (const change of products.watchProducts(
        { ids: ["p-1001", "p-1002"] },
        { timeoutMs: 5_000 },
      )) {
        seen.push(change.product?.id ?? "(none)");
        if (seen.length === 2) break;
      }
      results[`${name}.stream`] = seen.join(",");
    } catch (err) {
      results[`${name}.stream`] = failure(err);
    }
  }
  try {
    const res = await fetch(`${gateway}/v1/products/p-1001`);
    const body = (await res.json()) as { product?: { id?: string } };
    results.rest = `${res.status} ${body.product?.id ?? "(none)"} ${res.headers.get("x-request-id") ? "with-request-id" : "no-request-id"}`;
  } catch (err) {
    results.rest = failure(err);
  }
  return results;
}

declare global {
  interface Window {
    troupeResults?: Results;
  }
}

void run().then((results) => {
  window.troupeResults = results;
});
