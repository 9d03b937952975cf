/**
 * The retry budget (runtime/resilience/retry-budget.ts) on a controlled clock: retries are
 * bounded by a fraction of the window's calls plus a floor, and spent budget comes back as the
 * window slides past the calls that earned it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRetryBudget } from "../../runtime/resilience/retry-budget.ts";

test("retries are bounded by ratio × calls + floor over the window", () => {
  let now = 1_000_000;
  const budget = createRetryBudget({ ratio: 0.2, minRetriesPerSecond: 1, windowMs: 10_000 }, () => now);
  // The floor alone: 1/s over 10 s.
  assert.equal(budget.available(), 10);
  for (let i = 0; i < 100; i++) budget.deposit();
  assert.equal(budget.available(), 30);
  let granted = 0;
  while (budget.tryWithdraw()) granted++;
  assert.equal(granted, 30);
  assert.equal(budget.available(), 0);
  // Half a window later the calls still count and the retries too: nothing new.
  now += 5_000;
  assert.equal(budget.tryWithdraw(), false);
  // A whole window later calls and retries have both slid out: the floor is back.
  now += 5_000;
  assert.equal(budget.available(), 10);
});

test("a ratio of 0 and no floor allows no retries", () => {
  const budget = createRetryBudget({ ratio: 0, minRetriesPerSecond: 0, windowMs: 1_000 });
  for (let i = 0; i < 50; i++) budget.deposit();
  assert.equal(budget.tryWithdraw(), false);
});

test("bad options are refused", () => {
  assert.throws(() => createRetryBudget({ ratio: -1, minRetriesPerSecond: 0, windowMs: 1_000 }), /ratio/);
  assert.throws(() => createRetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 0 }), /windowMs/);
});
