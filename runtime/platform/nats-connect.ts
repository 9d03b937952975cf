/**
 * Opening a NATS connection. `@nats-io/transport-node` runs on Node, Bun and Deno (through its
 * node:net compatibility); everything else in the runtime takes the resulting NatsConnection.
 */
export { connect } from "@nats-io/transport-node";
