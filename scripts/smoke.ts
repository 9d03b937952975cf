/**
 * `npm start` for now: a smoke run of the foundation. It starts a disposable nats-server >= 2.11
 * with JetStream, stores a contract message (shop.v1.UserRegistered, binary protobuf) in a
 * stream, restarts the server, reads the message back, decodes it and prints it as JSON.
 * Later issues replace this with `troupe dev`, which runs the whole shop.
 */
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "troupe/testing";
import { UserRegisteredSchema } from "../proto/gen/shop/v1/user_pb.ts";

const step = (text: string) => console.log(`troupe smoke: ${text}`);

await using server = await startNatsServer();
step(`nats-server ${server.version} with JetStream on ${server.url} (store ${server.dir})`);

const event = create(UserRegisteredSchema, {
  userId: "u-1",
  email: "ada@example.com",
  displayName: "Ada",
  registeredAt: timestampNow(),
});

let nc = await connect({ servers: server.url, name: "troupe-smoke" });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: "SMOKE", subjects: ["smoke.>"] });
const ack = await jetstream(nc).publish("smoke.user-registered", toBinary(UserRegisteredSchema, event));
step(`stored UserRegistered in stream ${ack.stream} at sequence ${ack.seq}`);
await nc.close();

await server.restart();
step(`restarted nats-server (pid ${server.pid}) on the same port and store`);

nc = await connect({ servers: server.url, name: "troupe-smoke" });
const stored = await (await jetstreamManager(nc)).streams.getMessage("SMOKE", { seq: ack.seq });
if (stored === null) throw new Error("the stored message is gone after the restart");
const decoded = fromBinary(UserRegisteredSchema, stored.data);
step(`read it back: ${toJsonString(UserRegisteredSchema, decoded)}`);
await nc.close();
step("ok");
