/**
 * A Markdown table's lines: the header, its rule, and the rows. The first `leading` columns
 * (runtime, payload…) are left-aligned, the others, numbers, right-aligned.
 */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  leading: number,
): string[] {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  const rule = `|${header.map((_, i) => (i < leading ? " --- " : " ---: ")).join("|")}|`;
  return [line(header), rule, ...rows.map(line)];
}
