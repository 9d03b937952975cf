/**
 * The Echo calls of the peers whose client is a Connect client (over HTTP/2 or over NATS): the
 * same request message and the same check, so that only the transport differs between them.
 */
import type { Client } from "@connectrpc/connect";
import type { BenchService } from "../../proto/gen/troupe/bench/v1/bench_pb.ts";
import { echoRequestOfSize } from "../shared/echo-request.ts";
import { checkEcho, type PeerClient } from "./peer-client.ts";

export function connectEcho(client: Client<typeof BenchService>): PeerClient["echo"] {
  return (sizeBytes) => {
    const { payload } = echoRequestOfSize(sizeBytes);
    return async () => {
      const response = await client.echo({ payload });
      checkEcho(payload.length, response.payload.length);
    };
  };
}
