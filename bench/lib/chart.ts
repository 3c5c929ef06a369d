import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { percentile } from "./stats.js";

export interface Series {
  label: string;
  values: readonly number[];
  /** CSS colour of the series in both panels. */
  color: string;
}

export interface RenderedChart {
  /** The chart as Vega renders it (text as text: searchable, scalable). */
  svg: string;
  /** The same, rasterised by resvg for places that want a bitmap (the Markdown report). */
  png: Buffer;
}

const BINS = 60;

/** A round axis maximum ≥ v: 1, 2 or 5 times a power of ten and steps between. */
function niceCeil(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** The legend's name of a series: its label, sample size and 99th percentile. */
const legendName = (s: Series) => `${s.label} (N=${s.values.length}, p99 ${Math.round(percentile(s.values, 99))} ms)`;

/** The Vega-Lite specification of the lateness chart: the share of messages per lateness bin, and the cumulative share. */
export function latenessSpec(series: readonly Series[], title: string): TopLevelSpec {
  const xMax = niceCeil(Math.max(1, ...series.flatMap((s) => [...s.values])));
  const binWidth = xMax / BINS;
  const histogram = series.flatMap((s) => {
    const counts = new Array<number>(BINS).fill(0);
    for (const v of s.values) counts[Math.min(BINS - 1, Math.max(0, Math.floor(v / binWidth)))]! += 1;
    return counts.map((n, i) => ({ series: legendName(s), from: i * binWidth, to: (i + 1) * binWidth, share: n / Math.max(1, s.values.length) }));
  });
  const cumulative = series.flatMap((s) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    return [{ series: legendName(s), ms: 0, share: 0 }, ...sorted.map((v, i) => ({ series: legendName(s), ms: Math.max(0, v), share: (i + 1) / sorted.length }))];
  });
  const p99 = series.map((s) => ({ series: legendName(s), ms: percentile(s.values, 99) }));
  const color = {
    field: "series",
    type: "nominal",
    title: "series (sample size, 99th percentile)",
    scale: { domain: series.map(legendName), range: series.map((s) => s.color) },
    legend: { orient: "top", direction: "vertical", labelLimit: 600, titleLimit: 600 },
  } as const;
  const x = (title: string, field: string) => ({ field, type: "quantitative", title, scale: { domain: [0, xMax], nice: false } }) as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, fontSize: 16, anchor: "start" },
    config: { font: "DejaVu Sans", view: { stroke: "#ccc" }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 12, titleFontSize: 12 } },
    background: "white",
    vconcat: [
      {
        width: 860,
        height: 220,
        title: { text: `Share of messages per ${Number.isInteger(binWidth) ? binWidth : Number(binWidth.toPrecision(3))} ms of lateness`, fontSize: 13, anchor: "start" },
        data: { values: histogram },
        mark: { type: "line", interpolate: "step-after", strokeWidth: 2 },
        encoding: {
          x: x("lateness: receive time − deliver time (ms)", "from"),
          y: { field: "share", type: "quantitative", title: "share of the series' messages", axis: { format: "%" } },
          color,
        },
      },
      {
        width: 860,
        height: 220,
        title: { text: "Cumulative share (dashed: each series' 99th percentile)", fontSize: 13, anchor: "start" },
        layer: [
          {
            data: { values: cumulative },
            mark: { type: "line", interpolate: "step-after", strokeWidth: 2 },
            encoding: {
              x: x("lateness: receive time − deliver time (ms)", "ms"),
              y: { field: "share", type: "quantitative", title: "messages received by then", axis: { format: "%" }, scale: { domain: [0, 1] } },
              color,
            },
          },
          {
            data: { values: p99 },
            mark: { type: "rule", strokeDash: [5, 4], strokeWidth: 1.5 },
            encoding: { x: x("lateness: receive time − deliver time (ms)", "ms"), color },
          },
        ],
      },
    ],
    resolve: { scale: { color: "shared" } },
  } as unknown as TopLevelSpec;
}

/** Draws the lateness chart with Vega-Lite (SVG through Vega's headless renderer) and rasterises it with resvg. */
export async function latenessChart(series: readonly Series[], title: string): Promise<RenderedChart> {
  const { spec } = compile(latenessSpec(series, title));
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: "zoom", value: 1.5 }, background: "white", font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } })
    .render()
    .asPng();
  return { svg, png };
}
