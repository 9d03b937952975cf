/**
 * The shop's gateway: REST, Connect, gRPC-Web and gRPC on one port, forwarded to the actors
 * over NATS, for every service of the contracts with a public method (TROUPE_CONTRACTS, which
 * `troupe dev` sets from troupe.json). Configuration from the environment (docs/guide/gateway.md,
 * docs/guide/configuration.md).
 */

import { runGateway } from "troupe/gateway";

await runGateway();
