/**
 * A benchmark's main table as a grouped bar chart in SVG, for a README to link: one group of
 * bars per row (a runtime, a payload size), one bar per numeric column (a peer), a value axis
 * from zero with round ticks, the value over each bar, a legend, and an optional reference line
 * (a target). Plain string building, no dependency: the charts are small and their shape fixed,
 * and every text is escaped.
 */

export interface BarGroup {
  /** The row's name under its bars; a "\n" starts a second line. */
  readonly label: string;
  /** One value per series, in the order of `series`; undefined draws "n/a" (a failed peer). */
  readonly values: readonly (number | undefined)[];
}

export interface BarChart {
  readonly title: string;
  /** The value axis' name, with its unit: "calls/s", "ms". */
  readonly unit: string;
  /** The numeric columns: one bar in every group, one entry in the legend. */
  readonly series: readonly string[];
  readonly groups: readonly BarGroup[];
  /** A dashed line across the chart at `value`, named `label`. */
  readonly reference?: { readonly value: number; readonly label: string } | undefined;
}

/** Okabe–Ito: told apart with the common colour-vision deficiencies. */
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

const BAR_WIDTH = 26;
const BAR_GAP = 4;
const GROUP_GAP = 28;
const PLOT_HEIGHT = 260;
const MARGIN = { left: 78, right: 24, top: 34, bottom: 52 };
const LEGEND_ROW = 18;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

export function barChartSvg(chart: BarChart): string {
  const seriesCount = Math.max(1, chart.series.length);
  const groupWidth = seriesCount * BAR_WIDTH + (seriesCount - 1) * BAR_GAP;
  // Each group's slot is wide enough for its bars and for the longest line of any group's label.
  const labelWidth = Math.max(0, ...chart.groups.flatMap((g) => g.label.split("\n").map(textWidth)));
  const slot = Math.max(groupWidth + GROUP_GAP, labelWidth + 12);
  const plotWidth = Math.max(240, chart.groups.length * slot + GROUP_GAP);
  const width = Math.max(
    MARGIN.left + plotWidth + MARGIN.right,
    MARGIN.left + textWidth(chart.title) * 1.3 + MARGIN.right,
  );
  const legend = legendLayout(chart.series, width - MARGIN.left - MARGIN.right);
  const plotTop = MARGIN.top + legend.height + 18;
  const height = plotTop + PLOT_HEIGHT + MARGIN.bottom;

  const values = chart.groups.flatMap((g) => g.values.filter((v): v is number => v !== undefined));
  const top = niceCeiling(Math.max(0, ...values, chart.reference?.value ?? 0));
  const ticks = tickValues(top);
  const y = (value: number) => plotTop + PLOT_HEIGHT - (value / top) * PLOT_HEIGHT;
  const plotLeft = MARGIN.left;
  const plotBottom = plotTop + PLOT_HEIGHT;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${plotLeft}" y="22" font-size="15" font-weight="600" fill="#222">${escapeXml(chart.title)}</text>`,
  ];

  // Legend: a swatch and a name per series, in rows under the title.
  chart.series.forEach((name, i) => {
    const { x, row } = legend.positions[i] ?? { x: 0, row: 0 };
    const ly = MARGIN.top + 12 + row * LEGEND_ROW;
    parts.push(
      `<rect x="${plotLeft + x}" y="${ly - 10}" width="12" height="12" fill="${colour(i)}"/>`,
      `<text x="${plotLeft + x + 17}" y="${ly}" fill="#333">${escapeXml(name)}</text>`,
    );
  });

  // Value axis: grid lines and their labels, the unit along the axis.
  for (const tick of ticks) {
    const ty = y(tick);
    parts.push(
      `<line x1="${plotLeft}" y1="${ty}" x2="${plotLeft + plotWidth}" y2="${ty}" stroke="${tick === 0 ? "#444" : "#e3e3e3"}"/>`,
      `<text x="${plotLeft - 8}" y="${ty + 4}" text-anchor="end" fill="#444">${escapeXml(formatTick(tick, top))}</text>`,
    );
  }
  const midY = plotTop + PLOT_HEIGHT / 2;
  parts.push(
    `<text x="16" y="${midY}" text-anchor="middle" fill="#444" transform="rotate(-90 16 ${midY})">${escapeXml(chart.unit)}</text>`,
    `<line x1="${plotLeft}" y1="${plotTop}" x2="${plotLeft}" y2="${plotBottom}" stroke="#444"/>`,
  );

  // Bars, each with its value above it, and the group's label under them.
  chart.groups.forEach((group, g) => {
    const groupLeft = plotLeft + GROUP_GAP / 2 + g * slot + (slot - groupWidth) / 2;
    chart.series.forEach((name, s) => {
      const x = groupLeft + s * (BAR_WIDTH + BAR_GAP);
      const centre = x + BAR_WIDTH / 2;
      const value = group.values[s];
      if (value === undefined) {
        parts.push(
          `<text x="${centre}" y="${plotBottom - 4}" text-anchor="middle" font-size="9" fill="#999">n/a</text>`,
        );
        return;
      }
      const barTop = y(Math.max(0, value));
      parts.push(
        `<rect x="${x}" y="${barTop}" width="${BAR_WIDTH}" height="${plotBottom - barTop}" fill="${colour(s)}">` +
          `<title>${escapeXml(`${group.label.replaceAll("\n", " ")}, ${name}: ${formatValue(value)} ${chart.unit}`)}</title></rect>`,
        `<text x="${centre}" y="${barTop - 4}" text-anchor="middle" font-size="9" fill="#333">${escapeXml(formatValue(value))}</text>`,
      );
    });
    const labelX = groupLeft + groupWidth / 2;
    group.label.split("\n").forEach((line, i) => {
      parts.push(
        `<text x="${labelX}" y="${plotBottom + 18 + i * 14}" text-anchor="middle" fill="#222">${escapeXml(line)}</text>`,
      );
    });
  });

  if (chart.reference !== undefined) {
    const ry = y(chart.reference.value);
    parts.push(
      `<line x1="${plotLeft}" y1="${ry}" x2="${plotLeft + plotWidth}" y2="${ry}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${plotLeft + plotWidth - 4}" y="${ry - 5}" text-anchor="end" font-size="11" fill="#c0392b">${escapeXml(chart.reference.label)}</text>`,
    );
  }

  parts.push("</svg>", "");
  return parts.join("\n");
}

/** Escapes the five XML special characters. */
export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** About how wide `text` is at 12 px in a sans-serif face: enough to keep labels apart. */
function textWidth(text: string): number {
  return text.length * 6.8;
}

function colour(index: number): string {
  return PALETTE[index % PALETTE.length] as string;
}

/** 61851 → "61.9k", 1234567 → "1.23M", 0.42 → "0.42", 180 → "180". */
export function formatValue(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  if (abs >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString("en-US");
  return trim(value);
}

/** A tick's label, in the unit of the axis' top (all ticks in k when the top is 10k or more). */
function formatTick(value: number, top: number): string {
  if (top >= 1e6) return `${trim(value / 1e6)}M`;
  if (top >= 1e4) return `${trim(value / 1e3)}k`;
  return formatValue(value);
}

/** Three significant digits, without trailing zeros. */
function trim(value: number): string {
  return String(Number(value.toPrecision(3)));
}

/** The smallest 1, 2 or 5 × 10ⁿ at or above `max` (1 for nothing to show). */
function niceCeiling(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** Five even steps from 0 to `top`. */
function tickValues(top: number): number[] {
  return Array.from({ length: 6 }, (_, i) => (top * i) / 5);
}

/** Where each legend entry goes: rows that fit `width`, entries sized by their name's length. */
function legendLayout(
  series: readonly string[],
  width: number,
): { positions: { x: number; row: number }[]; height: number } {
  const positions: { x: number; row: number }[] = [];
  let x = 0;
  let row = 0;
  for (const name of series) {
    const entryWidth = 17 + textWidth(name) + 18;
    if (x > 0 && x + entryWidth > width) {
      x = 0;
      row++;
    }
    positions.push({ x, row });
    x += entryWidth;
  }
  return { positions, height: (row + 1) * LEGEND_ROW };
}
