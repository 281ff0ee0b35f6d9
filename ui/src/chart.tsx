import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  /** x (step or time in seconds) and y, sorted by x. */
  points: Array<[number, number]>;
}

/** Distinct, colour-blind-friendly series colours (Okabe–Ito). */
export const seriesColors = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

/** Several runs' series on one x axis: uPlot wants one shared, sorted x array and a y array per series. */
const align = (series: Series[]): uPlot.AlignedData => {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const y: Array<number | null> = new Array(xs.length).fill(null);
    for (const [x, v] of s.points) y[index.get(x)!] = v;
    return y;
  });
  return [xs, ...ys] as uPlot.AlignedData;
};

/**
 * One metric's chart (uPlot, canvas). Its accessible name is `<metric key> chart`; the series drawn are
 * also given as a list for screen readers. `data-points` counts the points drawn (tests read the pixels).
 */
export const MetricChart = ({ metric, series, xLabel }: { metric: string; series: Series[]; xLabel: string }) => {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (host.current === null) return;
    // Data is here when this runs: draw time = aligning the series + uPlot's first draw (its `draw` hook).
    const started = performance.now();
    const el = host.current;
    delete el.dataset['drawMs'];
    const chart = new uPlot({
      hooks: { draw: [() => {
        if (el.dataset['drawMs'] === undefined) el.dataset['drawMs'] = String(Math.round(performance.now() - started));
      }] },
      width: Math.max(320, Math.min(host.current.clientWidth || 640, 900)),
      height: 260,
      scales: { x: { time: xLabel === 'time' } },
      axes: [{ label: xLabel, stroke: 'currentColor' }, { label: metric, stroke: 'currentColor' }],
      series: [{ label: xLabel }, ...series.map((s, i) => ({ label: s.label, stroke: seriesColors[i % seriesColors.length]!, width: 2, spanGaps: true, points: { show: s.points.length < 50 } }))],
      legend: { show: true },
    }, align(series), host.current);
    el.dataset['points'] = String(series.reduce((n, s) => n + s.points.length, 0));
    return () => chart.destroy();
  }, [metric, series, xLabel]);
  return (
    <figure class="chart">
      <div ref={host} role="img" aria-label={`${metric} chart`} class="chart-canvas" data-metric={metric} />
      <figcaption>
        {metric}: {series.map((s) => `${s.label} (${s.points.length} points)`).join(', ')}
      </figcaption>
    </figure>
  );
};
