/**
 * A benchmark's Markdown report body: each table under its `###` title, then the notes (one
 * line each, the failures), each part separated by a blank line.
 */
export interface ReportSection {
  readonly title: string;
  /** From markdown-table.ts. */
  readonly table: readonly string[];
}

export function markdownReport(sections: readonly ReportSection[], notes: readonly string[]): string {
  return [
    ...sections.flatMap(({ title, table }, i) => [...(i > 0 ? [""] : []), `### ${title}`, "", ...table]),
    ...(notes.length > 0 ? ["", ...notes] : []),
    "",
  ].join("\n");
}
