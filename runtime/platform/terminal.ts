/** The orchestrator's console: raw writes (no added newline) and whether a person is watching. */

/** True when stdout is a terminal (colours help) rather than a pipe or a file (they would not). */
export function stdoutIsTerminal(): boolean {
  return process.stdout.isTTY === true;
}

export function writeStdout(text: string): void {
  process.stdout.write(text);
}

export function writeStderr(text: string): void {
  process.stderr.write(text);
}
