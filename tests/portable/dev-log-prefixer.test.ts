/**
 * How `troupe dev` shows its processes' output (runtime/cli/dev/log-prefixer.ts): lines cut
 * across chunks are joined, every line gets the padded name, colours only when asked, and an
 * actor's JSON log line becomes `time level msg key=value`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLineSplitter, formatLogLine, linePrefix } from "../../runtime/cli/dev/log-prefixer.ts";

test("lines cut across chunks come out whole, CRLF trimmed, the unterminated rest on flush", () => {
  const lines: string[] = [];
  const splitter = createLineSplitter((line) => lines.push(line));
  splitter.push("first li");
  splitter.push("ne\r\nsecond\nthi");
  assert.deepEqual(lines, ["first line", "second"]);
  splitter.push("rd");
  splitter.flush();
  splitter.flush();
  assert.deepEqual(lines, ["first line", "second", "third"]);
});

test("the prefix pads every name to one width, with colour only when asked", () => {
  assert.equal(linePrefix("user", 0, { width: 9, color: false }), "user      | ");
  assert.equal(linePrefix("inventory", 1, { width: 9, color: false }), "inventory | ");
  const coloured = linePrefix("user", 0, { width: 9, color: true });
  assert.equal(coloured, "\x1b[36muser      |\x1b[0m ");
  assert.notEqual(
    linePrefix("user", 1, { width: 9, color: true }),
    coloured,
    "the next process, the next colour",
  );
});

test("a JSON log line is shown as time, level, message and fields; its stack on the lines after", () => {
  const time = new Date(2026, 10, 26, 8, 5, 7, 42).toISOString();
  const line = JSON.stringify({
    time,
    level: "error",
    msg: "the actor cannot start",
    actor: "user",
    id: "abc",
    runtime: "bun 1.4.5",
    endpoints: ["rpc.a", "rpc.b"],
    stack: "Error: no\n    at x (a.ts:1:1)",
  });
  assert.deepEqual(formatLogLine(line, { json: false, color: false }), [
    '08:05:07.042 error the actor cannot start id=abc runtime="bun 1.4.5" endpoints=["rpc.a","rpc.b"]',
    "    Error: no",
    "    at x (a.ts:1:1)",
  ]);
  assert.deepEqual(formatLogLine(line, { json: true, color: false }), [line], "--json-logs keeps it");
  const [coloured] = formatLogLine(line, { json: false, color: true });
  assert.ok(coloured?.includes("\x1b[31merror\x1b[0m"), "errors in red");
});

test("any other line is kept as it is", () => {
  for (const line of [
    "plain text",
    "{not json",
    '{"no":"msg"}',
    "[1] 2026/11/26 [INF] Server is ready",
    "",
  ]) {
    assert.deepEqual(formatLogLine(line, { json: false, color: false }), [line]);
  }
});
