/**
 * A test process that owns a nats-server and then waits to be signalled, for the harness's
 * clean-up tests. Prints `{"pid":…,"dir":…}` once the server is ready.
 */
import { startNatsServer } from "troupe/testing";

const server = await startNatsServer({ jetstream: false });
console.log(JSON.stringify({ pid: server.pid, dir: server.dir }));
setInterval(() => {}, 60_000);
