/**
 * What the move measurement's driver side (run-move.ts) and its client process (move-client.ts)
 * say to each other: the client's "move-ready" line, and two request subjects on the benchmark's
 * nats-server, outside Troupe's subject space.
 */
import { childLineParser } from "../shared/child-line.ts";

/** The client's loops run, and every partition has answered. */
export interface MoveReadyLine {
  readonly kind: "move-ready";
  readonly runtime: string;
}

/** Asks the client to SIGKILL `pid`, the process of instance `instance`; answered once sent. */
export const KILL_SUBJECT = "bench.keyed.move.kill";
export interface KillRequest {
  readonly pid: number;
  readonly instance: string;
}

/** Asks the client what happened since the last kill: answered with a MoveStatus. */
export const STATUS_SUBJECT = "bench.keyed.move.status";

/** One partition since the kill, in ms after it (null: not yet). */
export interface PartitionMove {
  readonly partition: number;
  /** Its lease was the victim's when the kill was sent. */
  readonly heldByVictim: boolean;
  /** The end of its first successful call that started after the kill. */
  answeredMs: number | null;
  /** When another instance took its lease (only for a partition that moved). */
  leaseMs: number | null;
  /** Calls that failed after the kill, before it answered. */
  failures: number;
}

export interface MoveStatus {
  /** Every partition's last call succeeded. */
  readonly answering: boolean;
  /** Each partition since the last kill; empty before the first. */
  readonly partitions: readonly PartitionMove[];
  /** When the victim's membership key expired (its delete marker), in ms after the kill. */
  readonly memberGoneMs: number | null;
}

export const parseMoveReadyLine = childLineParser<MoveReadyLine>(["move-ready"]);
