import { formatBytes } from '../report.js';
import { esc, formatCount } from './escape.js';

export interface ChartPoint {
  kind: 'deleted' | 'kept';
  sizeInBytes: number;
  /** ISO time of the last counted access; null when not accessed in the history window. */
  lastAccess: string | null;
  label: string;
}

const WIDTH = 900;
const HEIGHT = 380;
const MARGIN = { left: 78, right: 16, top: 16, bottom: 56 };
const NEVER_BAND = 110;
const GAP = 14;
const DAY_MS = 86_400_000;
/** Per series: more points than this say nothing more and make the page heavy. */
export const MAX_POINTS_PER_SERIES = 1500;

const STYLE = {
  deleted: { fill: '#d55e00', shape: 'circle' },
  kept: { fill: '#0072b2', shape: 'square' },
} as const;

/**
 * Last access against size, as an inline SVG scatter: days since the last counted access on the left
 * (older to the right), manifests not accessed in the window in their own band, size on a log scale.
 */
export function accessSizeChart(points: ChartPoint[], options: { nowMs: number; windowDays: number }): string {
  const plotRight = WIDTH - MARGIN.right - NEVER_BAND - GAP;
  const plotBottom = HEIGHT - MARGIN.bottom;
  const windowDays = Math.max(1, options.windowDays);
  let smallest = 1024;
  let largest = 2048;
  for (const point of points) {
    smallest = Math.min(smallest, Math.max(1, point.sizeInBytes));
    largest = Math.max(largest, point.sizeInBytes);
  }
  const minLog = Math.floor(Math.log2(smallest));
  const maxLog = Math.ceil(Math.log2(largest));
  const y = (size: number) => plotBottom - ((Math.log2(Math.max(1, size)) - minLog) / (maxLog - minLog)) * (plotBottom - MARGIN.top);
  const x = (point: ChartPoint) => {
    if (point.lastAccess === null) {
      const bandLeft = WIDTH - MARGIN.right - NEVER_BAND;
      return bandLeft + 8 + (hash(point.label) % 1000) / 1000 * (NEVER_BAND - 16);
    }
    const days = Math.min(windowDays, Math.max(0, (options.nowMs - Date.parse(point.lastAccess)) / DAY_MS));
    return MARGIN.left + (days / windowDays) * (plotRight - MARGIN.left);
  };

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-labelledby="chart-title">`);
  parts.push('<title id="chart-title">Last access against size of the deleted and kept manifests</title>');
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotRight - MARGIN.left}" height="${plotBottom - MARGIN.top}" fill="#fafafa" stroke="#ccc"/>`);
  const bandLeft = WIDTH - MARGIN.right - NEVER_BAND;
  parts.push(`<rect x="${bandLeft}" y="${MARGIN.top}" width="${NEVER_BAND}" height="${plotBottom - MARGIN.top}" fill="#f3f3f3" stroke="#ccc" stroke-dasharray="4 3"/>`);

  for (const tick of sizeTicks(minLog, maxLog)) {
    const ty = y(tick).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${ty}" y2="${ty}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#555">${esc(formatBytes(tick))}</text>`);
  }
  for (const days of dayTicks(windowDays)) {
    const tx = (MARGIN.left + (days / windowDays) * (plotRight - MARGIN.left)).toFixed(1);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${MARGIN.top}" y2="${plotBottom}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${tx}" y="${plotBottom + 16}" text-anchor="middle" font-size="11" fill="#555">${days}</text>`);
  }
  parts.push(`<text x="${bandLeft + NEVER_BAND / 2}" y="${plotBottom + 16}" text-anchor="middle" font-size="11" fill="#555">not accessed</text>`);
  parts.push(`<text x="${(MARGIN.left + plotRight) / 2}" y="${HEIGHT - 14}" text-anchor="middle" font-size="12" fill="#333">days since the last counted access (window: ${windowDays} days)</text>`);
  parts.push(`<text transform="translate(16 ${(MARGIN.top + plotBottom) / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">size</text>`);

  for (const kind of ['kept', 'deleted'] as const) {
    for (const point of sample(points.filter((candidate) => candidate.kind === kind))) {
      const px = x(point).toFixed(1);
      const py = y(point.sizeInBytes).toFixed(1);
      const tip = `<title>${esc(`${point.label} — ${formatBytes(point.sizeInBytes)}, ${point.lastAccess === null ? 'not accessed in the window' : `last access ${point.lastAccess}`}`)}</title>`;
      parts.push(
        STYLE[kind].shape === 'circle'
          ? `<circle cx="${px}" cy="${py}" r="3.2" fill="${STYLE[kind].fill}" fill-opacity="0.75">${tip}</circle>`
          : `<rect x="${(Number(px) - 3).toFixed(1)}" y="${(Number(py) - 3).toFixed(1)}" width="6" height="6" fill="${STYLE[kind].fill}" fill-opacity="0.6">${tip}</rect>`,
      );
    }
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The legend, with how many manifests each series has (and how many it shows, when there are too many to draw). */
export function chartLegend(totals: Record<ChartPoint['kind'], number>): string {
  return (['deleted', 'kept'] as const)
    .map((kind) => {
      const count = totals[kind];
      const shown = Math.min(count, MAX_POINTS_PER_SERIES);
      const swatch = STYLE[kind].shape === 'circle' ? `<span class="swatch round" style="background:${STYLE[kind].fill}"></span>` : `<span class="swatch" style="background:${STYLE[kind].fill}"></span>`;
      return `<span class="legend-item">${swatch}${kind} (${formatCount(count)}${shown < count ? `, ${formatCount(shown)} drawn` : ''})</span>`;
    })
    .join(' ');
}

function sample(points: ChartPoint[]): ChartPoint[] {
  if (points.length <= MAX_POINTS_PER_SERIES) return points;
  const sorted = [...points].sort((a, b) => a.sizeInBytes - b.sizeInBytes || a.label.localeCompare(b.label));
  const step = sorted.length / MAX_POINTS_PER_SERIES;
  return Array.from({ length: MAX_POINTS_PER_SERIES }, (_, index) => sorted[Math.floor(index * step)]!);
}

function sizeTicks(minLog: number, maxLog: number): number[] {
  const ticks: number[] = [];
  for (let exponent = Math.ceil(minLog / 2) * 2; exponent <= maxLog; exponent += 2) ticks.push(2 ** exponent);
  return ticks.length > 8 ? ticks.filter((_, index) => index % 2 === 0) : ticks;
}

function dayTicks(windowDays: number): number[] {
  const step = windowDays <= 10 ? 1 : windowDays <= 30 ? 5 : Math.ceil(windowDays / 6);
  const ticks: number[] = [];
  for (let day = 0; day <= windowDays; day += step) ticks.push(day);
  return ticks;
}

function hash(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index++) value = Math.imul(value ^ text.charCodeAt(index), 16777619) >>> 0;
  return value;
}
