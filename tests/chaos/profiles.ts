/**
 * How hard and how long the chaos suite pushes (tests/chaos/run.ts `--profile`): the short one
 * runs in CI (both topologies within about three minutes on two cores), the long one is the
 * measured run of docs/guide/chaos.md (ten minutes of load, thousands of orders).
 */

export interface ChaosProfile {
  readonly name: "short" | "long";
  /** Concurrent virtual users, each placing one order after another. */
  readonly users: number;
  /** A virtual user registers a new account after this many orders (and once at the start). */
  readonly ordersPerAccount: number;
  /** How long new operations start; faults are injected during this time only. */
  readonly loadMs: number;
  /** Time between two faults. */
  readonly faultEveryMs: number;
  /** How long a SIGSTOPped nats-server stays paused. */
  readonly pauseMs: number;
  /** How long a killed cluster node stays down. */
  readonly nodeDownMs: number;
  /** After the load: how long operations may still retry and the system may take to settle. */
  readonly settleMs: number;
  /** One attempt of an operation through the gateway gives up after this long. */
  readonly attemptTimeoutMs: number;
  /** Share of orders paid with a declining card. */
  readonly declineRate: number;
  /** Units each catalogue product is restocked with before the load (one product gets `scarceStock`). */
  readonly stock: number;
  /** Units of the one scarce product, so that some orders find too little stock. */
  readonly scarceStock: number;
}

export const profiles: Readonly<Record<ChaosProfile["name"], ChaosProfile>> = {
  short: {
    name: "short",
    users: 6,
    ordersPerAccount: 12,
    // Every kind of fault once: eight actors, two (single) or three (cluster) nats-server faults.
    loadMs: 33_000,
    faultEveryMs: 3_000,
    pauseMs: 2_500,
    nodeDownMs: 4_000,
    settleMs: 45_000,
    attemptTimeoutMs: 8_000,
    declineRate: 0.15,
    stock: 1_000,
    scarceStock: 12,
  },
  long: {
    name: "long",
    users: 24,
    ordersPerAccount: 40,
    loadMs: 10 * 60_000,
    // An actor SIGKILLed again within a minute is restarted after a doubled back-off (troupe
    // dev's supervisor); with ten or eleven faults per round every actor runs a minute or more.
    faultEveryMs: 6_500,
    pauseMs: 4_000,
    nodeDownMs: 6_000,
    // On the cluster R3 writes and a SIGKILL a minute leave consumers thousands of messages
    // behind when the load ends, and abandoned orders are cancelled up to ~70 s after it.
    settleMs: 300_000,
    attemptTimeoutMs: 10_000,
    declineRate: 0.15,
    stock: 10_000,
    scarceStock: 40,
  },
};
