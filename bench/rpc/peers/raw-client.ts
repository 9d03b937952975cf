/**
 * Baseline: nats.js `nc.request()` with stock options (its own reply multiplexer, one timer and
 * one async-trace Error per call), sending the encoded EchoRequest as the payload.
 */
import { connect } from "@nats-io/transport-node";
import { ECHO_SUBJECT, encodedEchoRequestOfSize } from "../../shared/echo-request.ts";
import { natsTlsOptions } from "../../shared/nats-tls.ts";
import { checkEcho, type PeerClient } from "../peer-client.ts";

const TIMEOUT_MS = 10_000;

export async function connectRawClient(natsUrl: string): Promise<PeerClient> {
  const nc = await connect({ servers: natsUrl, ...natsTlsOptions(natsUrl) });
  return {
    echo(sizeBytes) {
      const request = encodedEchoRequestOfSize(sizeBytes);
      return async () => {
        const reply = await nc.request(ECHO_SUBJECT, request, { timeout: TIMEOUT_MS });
        checkEcho(request.length, reply.data.length);
      };
    },
    close: () => nc.close(),
  };
}
