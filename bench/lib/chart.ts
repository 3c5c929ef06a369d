import { PNG } from "pngjs";
import { type Canvas, drawText, fillRect, type Rgb, setPixel, textWidth } from "./font.js";
import { percentile } from "./stats.js";

export interface Series {
  label: string;
  values: readonly number[];
  color: Rgb;
}

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];

/** A round axis maximum ≥ v: 1, 2 or 5 times a power of ten. */
function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function line(c: Canvas, x0: number, y0: number, x1: number, y1: number, color: Rgb, thick = 1): void {
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let i = 0; i <= steps; i++) {
    const x = x0 + ((x1 - x0) * i) / steps;
    const y = y0 + ((y1 - y0) * i) / steps;
    fillRect(c, x - (thick - 1) / 2, y - (thick - 1) / 2, thick, thick, color);
  }
}

interface Frame {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(c: Canvas, f: Frame, xMax: number, yTicks: { value: number; label: string }[], yMax: number, xLabel: string): void {
  for (const t of yTicks) {
    const y = f.y + f.h - (t.value / yMax) * f.h;
    line(c, f.x, y, f.x + f.w, y, GRID);
    drawText(c, t.label, f.x - 8 - textWidth(t.label, 2), y - 5, INK);
  }
  for (let i = 0; i <= 5; i++) {
    const v = (xMax * i) / 5;
    const x = f.x + (f.w * i) / 5;
    line(c, x, f.y, x, f.y + f.h, GRID);
    const label = String(Math.round(v));
    drawText(c, label, x - textWidth(label, 2) / 2, f.y + f.h + 8, INK);
  }
  line(c, f.x, f.y + f.h, f.x + f.w, f.y + f.h, INK, 2);
  line(c, f.x, f.y, f.x, f.y + f.h, INK, 2);
  drawText(c, xLabel, f.x + f.w - textWidth(xLabel, 2), f.y + f.h + 24, INK);
}

/**
 * The lateness chart: a histogram (top) and the cumulative distribution (bottom) of each series, on one
 * shared x axis in milliseconds; p99 of each series marked by a dashed vertical line.
 */
export function latenessChart(series: readonly Series[], title: string): Buffer {
  const width = 960;
  const height = 640;
  const png = new PNG({ width, height });
  const c: Canvas = { width, height, data: png.data };
  fillRect(c, 0, 0, width, height, WHITE);
  drawText(c, title, 20, 14, INK, 3);
  let lx = 20;
  for (const s of series) {
    const p99 = percentile(s.values, 99);
    fillRect(c, lx, 42, 16, 12, s.color);
    const text = `${s.label} (N=${s.values.length}, P99 ${Math.round(p99)} MS)`;
    drawText(c, text, lx + 22, 43, INK);
    lx += 22 + textWidth(text, 2) + 30;
  }

  const all = series.flatMap((s) => [...s.values]);
  const xMax = niceCeil(Math.max(1, ...all));
  const bins = 60;
  const binW = xMax / bins;

  const hist: Frame = { x: 80, y: 80, w: width - 110, h: 220 };
  const counts = series.map((s) => {
    const arr = new Array<number>(bins).fill(0);
    for (const v of s.values) {
      const b = Math.min(bins - 1, Math.max(0, Math.floor(v / binW)));
      arr[b] = (arr[b] ?? 0) + 1;
    }
    return arr.map((n) => n / Math.max(1, s.values.length));
  });
  const yMaxH = niceCeil(Math.max(0.01, ...counts.flat()) * 100) / 100;
  axes(
    c,
    hist,
    xMax,
    [0, 0.5, 1].map((k) => ({
      value: k * yMaxH,
      label: `${Math.round(k * yMaxH * 100)}%`,
    })),
    yMaxH,
    "LATENESS MS",
  );
  series.forEach((s, si) => {
    const row = counts[si] ?? [];
    const slot = hist.w / bins;
    const barW = Math.max(1, slot / series.length - 1);
    row.forEach((frac, b) => {
      const h = (frac / yMaxH) * hist.h;
      fillRect(c, hist.x + b * slot + si * barW + 1, hist.y + hist.h - h, barW, h, s.color);
    });
  });

  const cdf: Frame = { x: 80, y: 370, w: width - 110, h: 220 };
  axes(
    c,
    cdf,
    xMax,
    [0, 0.5, 0.9, 1].map((k) => ({
      value: k,
      label: `${Math.round(k * 100)}%`,
    })),
    1,
    "LATENESS MS",
  );
  drawText(c, "CUMULATIVE", cdf.x + 8, cdf.y + 6, INK);
  drawText(c, "SHARE OF MESSAGES", hist.x + 8, hist.y + 6, INK);
  for (const s of series) {
    const sorted = [...s.values].sort((a, b) => a - b);
    let px = cdf.x;
    let py = cdf.y + cdf.h;
    sorted.forEach((v, i) => {
      const x = cdf.x + (Math.max(0, v) / xMax) * cdf.w;
      const y = cdf.y + cdf.h - ((i + 1) / sorted.length) * cdf.h;
      line(c, px, py, x, py, s.color, 2);
      line(c, x, py, x, y, s.color, 2);
      px = x;
      py = y;
    });
    const p99x = cdf.x + (percentile(s.values, 99) / xMax) * cdf.w;
    for (let y = hist.y; y < cdf.y + cdf.h; y += 6) for (let k = 0; k < 3; k++) setPixel(c, p99x, y + k, s.color);
  }
  return PNG.sync.write(png);
}
