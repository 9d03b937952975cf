/**
 * Echo server for the raw NATS peers (nc.request and the minimal multiplexer): a plain
 * subscription whose callback answers every request with exactly the bytes it carried.
 */
import { connect } from "@nats-io/transport-node";
import { ECHO_SUBJECT } from "../../shared/echo-request.ts";
import { natsTlsOptions } from "../../shared/nats-tls.ts";
import { servePeer } from "../../shared/serve-peer.ts";

await servePeer(async (natsUrl) => {
  const nc = await connect({ servers: natsUrl, ...natsTlsOptions(natsUrl) });
  nc.subscribe(ECHO_SUBJECT, {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await nc.flush(); // the subscription is known to the server before the client starts
  return { target: natsUrl, close: () => nc.close() };
});
