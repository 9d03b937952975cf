/**
 * The floor under the actor's startup figures: a process that does only what discovery needs to
 * see it, with nats.js alone and no Troupe code loaded: connects to NATS_URL and answers the
 * `$SRV.PING` subject the driver gives it. Started and watched exactly as the actor is
 * (measure-startup.ts), so the difference is what loading and starting Troupe costs.
 *
 *   NATS_URL=nats://127.0.0.1:4333 <runtime> bench/adoption/peers/bare-responder.ts --subject '$SRV.PING.adoption-bench'
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { runtimeLabel } from "../../shared/runtime-label.ts";

const { values } = parseArgs({ options: { subject: { type: "string" } } });
const subject = values.subject;
if (subject === undefined) throw new Error("--subject is required");

const nc = await connect({ servers: process.env.NATS_URL ?? "" });
const answer = JSON.stringify({
  type: "io.nats.micro.v1.ping_response",
  name: subject.split(".").at(-1),
  id: "bare",
  version: "0.0.0",
  metadata: { "troupe.runtime": runtimeLabel() },
});
nc.subscribe(subject, {
  callback: (_err, msg) => {
    msg.respond(answer);
  },
});

const stop = () => {
  nc.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
