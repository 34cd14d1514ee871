/** Live streams as people read them: tags, counts, countdowns, quality levels, charts. */
import type { FieldFunctionOptions, Reference } from "@apollo/client/cache";
import type { StreamStatus } from "../gql/graphql";

/** The server's rule for one tag (chatql/services/streams.py: TAG_RE). */
const TAG = /^[a-z0-9][a-z0-9-]{0,29}$/;
export const MAX_TAGS = 10;

/**
 * Tags as typed ("#Jazz, live  music"): split on commas and spaces, without a leading '#',
 * lower-case, each once. Those the server would refuse come back in `invalid`, so the form
 * can say which before sending.
 */
export function parseTags(text: string): { tags: string[]; invalid: string[] } {
  const tags: string[] = [];
  const invalid: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const tag = raw.replace(/^#+/, "").toLowerCase();
    if (!tag) continue;
    if (!TAG.test(tag)) {
      if (!invalid.includes(raw)) invalid.push(raw);
    } else if (!tags.includes(tag)) {
      tags.push(tag);
    }
  }
  return { tags, invalid };
}

/** Why a tag list cannot be sent, or null when it can. */
export function tagsProblem({ tags, invalid }: { tags: string[]; invalid: string[] }): string | null {
  if (invalid.length) {
    return `${invalid.join(", ")}: tags are up to 30 letters, digits and dashes, not starting with a dash.`;
  }
  if (tags.length > MAX_TAGS) return `At most ${MAX_TAGS} tags.`;
  return null;
}

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

/** "1 watching", "1.2K watching": short enough for a card. */
export function watchingLabel(count: number): string {
  return `${compact.format(count)} watching`;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString("en")} ${count === 1 ? one : many}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * Time left until `target`: the clock ("2d 03:04:05", "1:02:03", "4:05") and the words a
 * screen reader says ("2 days 3 hours 4 minutes"); `past` once it is due.
 */
export function countdown(target: string, now: number): { clock: string; words: string; past: boolean } {
  const left = Math.max(0, Math.floor((Date.parse(target) - now) / 1000));
  const days = Math.floor(left / 86_400);
  const hours = Math.floor((left % 86_400) / 3_600);
  const minutes = Math.floor((left % 3_600) / 60);
  const seconds = left % 60;
  let clock: string;
  if (days > 0) clock = `${days}d ${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
  else if (hours > 0) clock = `${hours}:${pad(minutes)}:${pad(seconds)}`;
  else clock = `${minutes}:${pad(seconds)}`;
  const words = [
    days ? plural(days, "day") : "",
    hours ? plural(hours, "hour") : "",
    minutes ? plural(minutes, "minute") : "",
    !days && !hours && (seconds || !minutes) ? plural(seconds, "second") : "",
  ]
    .filter(Boolean)
    .join(" ");
  return { clock, words, past: left === 0 };
}

/** A length of time in words: "45 s", "3 min 20 s", "2 h 05 min". */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (h > 0) return `${h} h ${pad(m)} min`;
  return `${m} min ${pad(s % 60)} s`;
}

/** What hls.js knows of a rendition (its `Level`), as far as labels need it. */
export interface LevelInfo {
  height: number;
  width: number;
  bitrate: number;
}

export interface QualityOption {
  /** hls.js's level index; -1 is Auto. */
  index: number;
  label: string;
}

function levelName(level: LevelInfo): string {
  return level.height > 0 ? `${level.height}p` : "Audio only";
}

function kbps(bitrate: number): string {
  return bitrate >= 1_000_000 ? `${(bitrate / 1_000_000).toFixed(1)} Mb/s` : `${Math.round(bitrate / 1000)} kb/s`;
}

/**
 * The quality menu: Auto first, then each rendition from the best down. A height that occurs
 * twice (two bitrates of 720p) is told apart by its bitrate.
 */
export function qualityOptions(levels: readonly LevelInfo[]): QualityOption[] {
  const heights = new Map<number, number>();
  for (const level of levels) heights.set(level.height, (heights.get(level.height) ?? 0) + 1);
  const options = levels.map((level, index) => {
    const name = levelName(level);
    return { index, level, label: (heights.get(level.height) ?? 0) > 1 ? `${name} · ${kbps(level.bitrate)}` : name };
  });
  options.sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate);
  return [{ index: -1, label: "Auto" }, ...options.map(({ index, label }) => ({ index, label }))];
}

/** The menu button's text: the choice, and for Auto what it picked ("Auto (360p)"). */
export function qualityButtonLabel(levels: readonly LevelInfo[], chosen: number, playing: number): string {
  if (chosen >= 0) return qualityOptions(levels).find((o) => o.index === chosen)?.label ?? "Auto";
  const current = levels[playing];
  return current ? `Auto (${levelName(current)})` : "Auto";
}

export const STATUS_LABEL: Readonly<Record<StreamStatus, string>> = {
  SCHEDULED: "Scheduled",
  LIVE: "Live",
  ENDED: "Ended",
  CANCELLED: "Cancelled",
};

/** "4.5 ★ from 12 ratings", or null before the first. */
export function ratingSummary(average: number | null | undefined, count: number): string | null {
  if (!count || average === null || average === undefined) return null;
  return `${average.toFixed(1)} ★ from ${plural(count, "rating")}`;
}

/** An ISO time as a `datetime-local` input shows it, in local time ("2026-12-24T20:00"). */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (local time) as an ISO instant; null for empty or invalid. */
export function fromLocalInput(value: string): string | null {
  if (!value) return null;
  const d = new Date(value); // no zone in the string: read as local time
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export interface ChartPoint {
  x: number;
  y: number;
  at: string;
  viewers: number;
}

export interface Chart {
  /** SVG path data for the line ("" without samples). */
  line: string;
  /** The same line closed along the bottom, to fill under it. */
  area: string;
  points: ChartPoint[];
  /** The top of the value axis: a round number at or above the peak. */
  top: number;
}

/** A round axis top at or above `value`: 1, 2, 5, 10, 20, 50... */
export function niceCeiling(value: number): number {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/**
 * The viewer series as a line in a `width` × `height` box (y grows downwards, as in SVG):
 * time along x from the first sample to the last, viewers up from 0 to a round top.
 */
export function viewerChart(series: readonly { at: string; viewers: number }[], width: number, height: number): Chart {
  const samples = [...series].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const top = niceCeiling(Math.max(0, ...samples.map((s) => s.viewers)));
  if (!samples.length) return { line: "", area: "", points: [], top };
  const first = Date.parse(samples[0]?.at ?? "");
  const span = Date.parse(samples[samples.length - 1]?.at ?? "") - first;
  const points = samples.map((s) => ({
    x: round(span > 0 ? ((Date.parse(s.at) - first) / span) * width : width / 2),
    y: round(height - (s.viewers / top) * height),
    at: s.at,
    viewers: s.viewers,
  }));
  const line = points.map((p, i) => `${i ? "L" : "M"}${p.x} ${p.y}`).join(" ");
  const firstX = points[0]?.x ?? 0;
  const lastX = points[points.length - 1]?.x ?? 0;
  return { line, area: `${line} L${lastX} ${height} L${firstX} ${height} Z`, points, top };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * The cache's merge for `streams`: a page fetched with a nextToken is appended (each stream
 * once); a first page replaces what was there.
 */
interface StreamPage {
  items: Reference[];
  nextToken: string | null;
  __typename?: string;
}

export function mergeStreamPages(
  existing: StreamPage | undefined,
  incoming: StreamPage,
  { args }: Pick<FieldFunctionOptions, "args">,
): StreamPage {
  if (!existing || !args?.["nextToken"]) return incoming;
  const seen = new Set(existing.items.map((r) => r.__ref));
  return { ...incoming, items: [...existing.items, ...incoming.items.filter((r) => !seen.has(r.__ref))] };
}
