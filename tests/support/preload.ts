/**
 * Loaded by `bun test` before any test file (bunfig.toml). Removes servers and stores that an
 * interrupted earlier run left behind, and fails at once, naming the fix, when no nats-server
 * >= 2.11 can be found, instead of letting every test fail on its own.
 */
import { findNatsServer, reapStaleServers } from "troupe/testing";

reapStaleServers();
await findNatsServer();
