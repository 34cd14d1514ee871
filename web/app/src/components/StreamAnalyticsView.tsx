import { useQuery } from "@apollo/client/react";
import { useId } from "react";
import { StreamAnalyticsDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { formatTime } from "../lib/format";
import { formatDuration, plural, viewerChart } from "../lib/streams";

/** While live, the numbers move: read them again this often. */
const LIVE_REFRESH_MS = 10_000;

const WIDTH = 600;
const HEIGHT = 180;
/** Room around the plot for the axis labels. */
const LEFT = 40;
const BOTTOM = 24;
const TOP = 10;
const RIGHT = 12;

/** The creator's numbers for one stream, and its viewers over time as a line we draw. */
export function StreamAnalyticsView({ streamId, live }: { streamId: string; live: boolean }) {
  const headingId = useId();
  const { data, error } = useQuery(StreamAnalyticsDocument, {
    variables: { streamId },
    fetchPolicy: "cache-and-network",
    pollInterval: live ? LIVE_REFRESH_MS : 0,
  });
  const a = data?.streamAnalytics;
  return (
    <section className="studio-section" aria-labelledby={headingId}>
      <h2 id={headingId}>Analytics</h2>
      {error && !a && <p className="form-error">{describeError(error)}</p>}
      {!a && !error && <p className="muted">Loading…</p>}
      {a && (
        <>
          <dl className="stats">
            <Stat label="Peak viewers" value={a.peakViewers.toLocaleString()} />
            <Stat label="Average viewers" value={a.averageViewers.toFixed(1)} />
            <Stat label="Unique viewers" value={a.uniqueViewers.toLocaleString()} />
            <Stat label="Watch time" value={formatDuration(a.totalWatchSeconds)} />
            <Stat label="Chat messages" value={a.chatMessages.toLocaleString()} />
            <Stat label="Chatters" value={a.chatters.toLocaleString()} />
            <Stat
              label="Rating"
              value={a.ratingAverage !== null && a.ratingCount ? `${a.ratingAverage.toFixed(1)} ★ (${a.ratingCount})` : "None yet"}
            />
            <Stat label="New followers" value={a.newFollowers.toLocaleString()} />
          </dl>
          <ViewerChart series={a.viewerSeries} />
        </>
      )}
    </section>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

/** Viewers over time: an SVG line with its area, a value axis from 0 and the time span below. */
export function ViewerChart({ series }: { series: readonly { at: string; viewers: number }[] }) {
  const titleId = useId();
  const descId = useId();
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const chart = viewerChart(series, plotW, plotH);
  if (chart.points.length === 0) {
    return <p className="muted">The viewer chart fills in while the stream is live.</p>;
  }
  const first = chart.points[0];
  const last = chart.points[chart.points.length - 1];
  const peak = chart.points.reduce((best, p) => (p.viewers > best.viewers ? p : best), chart.points[0] ?? { viewers: 0, at: "" });
  const grid = [0, chart.top / 2, chart.top];
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={`${titleId} ${descId}`}>
        <title id={titleId}>Viewers over time</title>
        <desc id={descId}>
          {`${plural(chart.points.length, "sample")} from ${first ? formatTime(first.at) : ""} to ${last ? formatTime(last.at) : ""}; peak ${plural(peak.viewers, "viewer")}${peak.at ? ` at ${formatTime(peak.at)}` : ""}.`}
        </desc>
        <g transform={`translate(${LEFT} ${TOP})`}>
          {grid.map((value) => {
            const y = plotH - (value / chart.top) * plotH;
            return (
              <g key={value} className="chart-grid">
                <line x1={0} x2={plotW} y1={y} y2={y} />
                <text x={-6} y={y} dy="0.32em" textAnchor="end">
                  {Number.isInteger(value) ? value : value.toFixed(1)}
                </text>
              </g>
            );
          })}
          <path className="chart-area" d={chart.area} />
          <path className="chart-line" d={chart.line} />
          {chart.points.length <= 60 &&
            chart.points.map((p) => <circle key={p.at} className="chart-dot" cx={p.x} cy={p.y} r={2.5} />)}
          <text className="chart-axis" x={0} y={plotH + 16} textAnchor="start">
            {first ? formatTime(first.at) : ""}
          </text>
          <text className="chart-axis" x={plotW} y={plotH + 16} textAnchor="end">
            {last ? formatTime(last.at) : ""}
          </text>
        </g>
      </svg>
      <figcaption className="muted">Viewers over time</figcaption>
    </figure>
  );
}
