import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** Bars instead of a line. */
  bars?: boolean;
}

export interface ChartProps {
  /** For the accessible name; the data is also given as a table beside the chart. */
  title: string;
  /** X values: epoch milliseconds. */
  times: readonly number[];
  series: readonly ChartSeries[];
  yLabel: string;
  height?: number;
  id?: string;
}

/**
 * A time chart drawn by uPlot (canvas, with axes, a legend and a cursor read-out). Screen readers get
 * the chart's name from `title` and its figures from the table the views render next to it.
 */
export function TimeChart({ title, times, series, yLabel, height = 220, id }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => `${s.label}:${s.bars ? 1 : 0}`).join(",");

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const bars = uPlot.paths.bars?.({ size: [0.8, 64] });
    const options: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: "#444", grid: { stroke: "#eee" } }, { label: yLabel, stroke: "#444", grid: { stroke: "#eee" }, size: 60 }],
      legend: { show: true, live: true },
      series: [
        { label: "time", value: (_u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleString()) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.bars ? 1 : 2,
          ...(s.bars && bars ? { paths: bars, fill: `${s.color}99`, points: { show: false } } : { points: { show: false } }),
        })),
      ],
    };
    const data: uPlot.AlignedData = [times.map((t) => t / 1000), ...series.map((s) => s.values)];
    plot.current = new uPlot(options, data, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(320, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The plot is rebuilt only when the series change; new data goes through setData below.
  }, [shape, height, yLabel]);

  useEffect(() => {
    plot.current?.setData([times.map((t) => t / 1000), ...series.map((s) => s.values)]);
  }, [times, series]);

  return <div class="chart" ref={box} role="img" aria-label={title} id={id} />;
}
