/**
 * The `--since` of `troupe tail`: a duration back from now (`90s`, `15m`, `2h`, `1d`, `1h30m`,
 * `500ms`) or a point in time (ISO 8601: `2026-12-02T10:00:00Z`, `2026-12-02`).
 */
import { UsageError } from "../command.ts";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The instant `text` names, relative to `now` for a duration. */
export function parseSince(text: string, now: Date = new Date()): Date {
  if (DURATION.test(text)) {
    let ms = 0;
    for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * (UNIT_MS[unit ?? ""] ?? 0);
    return new Date(now.getTime() - ms);
  }
  // A point in time: a date, or a date and time (with a zone, or local).
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const at = new Date(text);
    if (!Number.isNaN(at.getTime())) {
      if (at.getTime() > now.getTime()) throw new UsageError(`--since ${text} is in the future`);
      return at;
    }
  }
  throw new UsageError(
    `--since must be a duration (90s, 15m, 2h, 1d, 1h30m) or a time (2026-12-02T10:00:00Z), got "${text}"`,
  );
}
