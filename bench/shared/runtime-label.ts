/** The runtime this process runs on, as the tables name it: "bun 1.4.5", "deno 2.9.6", "node 26.10.0". */
export function runtimeLabel(): string {
  const { bun, deno, node } = process.versions;
  if (bun !== undefined) return `bun ${bun}`;
  if (deno !== undefined) return `deno ${deno}`;
  return `node ${node}`;
}
