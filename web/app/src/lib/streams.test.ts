import type { Reference } from "@apollo/client/cache";
import { describe, expect, it } from "vitest";
import { parseRoute, streamPath, studioPath } from "./router";
import {
  countdown,
  formatDuration,
  fromLocalInput,
  mergeStreamPages,
  niceCeiling,
  parseTags,
  qualityButtonLabel,
  qualityOptions,
  ratingSummary,
  tagsProblem,
  toLocalInput,
  viewerChart,
  watchingLabel,
} from "./streams";

describe("parseTags", () => {
  it("splits on commas and spaces, drops '#', lower-cases and keeps each tag once, in order", () => {
    expect(parseTags("#Jazz, live-music  jazz,,Piano")).toEqual({ tags: ["jazz", "live-music", "piano"], invalid: [] });
    expect(parseTags("   ")).toEqual({ tags: [], invalid: [] });
  });
  it("reports what the server would refuse, as typed", () => {
    const parsed = parseTags("ok, -dash, café, " + "x".repeat(31));
    expect(parsed.tags).toEqual(["ok"]);
    expect(parsed.invalid).toEqual(["-dash", "café", "x".repeat(31)]);
    expect(tagsProblem(parsed)).toMatch(/^-dash, café, x+: tags are/);
  });
  it("allows ten tags, not eleven", () => {
    const ten = parseTags(Array.from({ length: 10 }, (_, i) => `t${i}`).join(" "));
    expect(tagsProblem(ten)).toBeNull();
    expect(tagsProblem(parseTags(`${ten.tags.join(" ")} t10`))).toBe("At most 10 tags.");
  });
});

describe("countdown", () => {
  const start = "2026-12-24T20:00:00.000Z";
  const at = (secondsBefore: number) => Date.parse(start) - secondsBefore * 1000;
  it("shows days, hours, minutes and seconds as a clock, and says them in words", () => {
    expect(countdown(start, at(2 * 86_400 + 3 * 3_600 + 4 * 60 + 5))).toEqual({
      clock: "2d 03:04:05",
      words: "2 days 3 hours 4 minutes",
      past: false,
    });
    expect(countdown(start, at(3_600 + 2 * 60 + 3))).toMatchObject({ clock: "1:02:03", words: "1 hour 2 minutes" });
    expect(countdown(start, at(4 * 60 + 5))).toMatchObject({ clock: "4:05", words: "4 minutes 5 seconds" });
    expect(countdown(start, at(59))).toMatchObject({ clock: "0:59", words: "59 seconds" });
    expect(countdown(start, at(4 * 60))).toMatchObject({ clock: "4:00", words: "4 minutes" });
    expect(countdown(start, at(1))).toMatchObject({ words: "1 second", past: false });
  });
  it("stops at zero once the time has come", () => {
    expect(countdown(start, at(0))).toEqual({ clock: "0:00", words: "0 seconds", past: true });
    expect(countdown(start, at(-3_600))).toMatchObject({ clock: "0:00", past: true });
  });
});

describe("quality levels", () => {
  const ladder = [
    { height: 240, width: 426, bitrate: 364_000 },
    { height: 360, width: 640, bitrate: 864_000 },
  ];
  it("lists Auto, then each rendition from the best down, by hls.js's index", () => {
    expect(qualityOptions(ladder)).toEqual([
      { index: -1, label: "Auto" },
      { index: 1, label: "360p" },
      { index: 0, label: "240p" },
    ]);
  });
  it("tells apart two renditions of one height by bitrate, and names audio-only", () => {
    const labels = qualityOptions([
      { height: 720, width: 1280, bitrate: 2_800_000 },
      { height: 720, width: 1280, bitrate: 1_500_000 },
      { height: 0, width: 0, bitrate: 64_000 },
    ]).map((o) => o.label);
    expect(labels).toEqual(["Auto", "720p · 2.8 Mb/s", "720p · 1.5 Mb/s", "Audio only"]);
  });
  it("labels the button with the choice, or with what Auto is playing", () => {
    expect(qualityButtonLabel(ladder, -1, 1)).toBe("Auto (360p)");
    expect(qualityButtonLabel(ladder, -1, -1)).toBe("Auto");
    expect(qualityButtonLabel(ladder, 0, 1)).toBe("240p");
  });
});

describe("numbers and times", () => {
  it("counts viewers compactly", () => {
    expect(watchingLabel(0)).toBe("0 watching");
    expect(watchingLabel(1)).toBe("1 watching");
    expect(watchingLabel(1_234)).toBe("1.2K watching");
  });
  it("says how long", () => {
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(44.6)).toBe("45 s");
    expect(formatDuration(200)).toBe("3 min 20 s");
    expect(formatDuration(2 * 3_600 + 5 * 60 + 9)).toBe("2 h 05 min");
  });
  it("sums up ratings only once there are some", () => {
    expect(ratingSummary(null, 0)).toBeNull();
    expect(ratingSummary(4.25, 1)).toBe("4.3 ★ from 1 rating");
    expect(ratingSummary(3, 12)).toBe("3.0 ★ from 12 ratings");
  });
  it("round-trips a planned start through a datetime-local field in local time", () => {
    const iso = new Date(2026, 11, 24, 20, 5).toISOString();
    expect(toLocalInput(iso)).toBe("2026-12-24T20:05");
    expect(fromLocalInput("2026-12-24T20:05")).toBe(iso);
    expect(fromLocalInput("")).toBeNull();
    expect(fromLocalInput("not a date")).toBeNull();
    expect(toLocalInput(null)).toBe("");
  });
});

describe("viewerChart", () => {
  it("rounds the value axis up", () => {
    expect([0, 1, 3, 7, 10, 11, 42, 120].map(niceCeiling)).toEqual([1, 1, 5, 10, 10, 20, 50, 200]);
  });
  it("spreads the samples over the width by time and up from the bottom by viewers", () => {
    const chart = viewerChart(
      [
        { at: "2026-01-01T10:00:20Z", viewers: 4 },
        { at: "2026-01-01T10:00:00Z", viewers: 0 },
        { at: "2026-01-01T10:00:10Z", viewers: 5 },
      ],
      100,
      50,
    );
    expect(chart.top).toBe(5);
    expect(chart.points.map(({ x, y }) => [x, y])).toEqual([
      [0, 50],
      [50, 0],
      [100, 10],
    ]);
    expect(chart.line).toBe("M0 50 L50 0 L100 10");
    expect(chart.area).toBe("M0 50 L50 0 L100 10 L100 50 L0 50 Z");
  });
  it("puts a lone sample in the middle, and draws nothing without samples", () => {
    expect(viewerChart([{ at: "2026-01-01T10:00:00Z", viewers: 1 }], 100, 50).line).toBe("M50 0");
    expect(viewerChart([], 100, 50)).toEqual({ line: "", area: "", points: [], top: 1 });
  });
});

describe("mergeStreamPages", () => {
  const ref = (id: string): Reference => ({ __ref: `Stream:${id}` });
  it("appends a next page (each stream once) and replaces on a first page", () => {
    const first = mergeStreamPages(undefined, { items: [ref("a"), ref("b")], nextToken: "t1" }, { args: {} });
    const next = mergeStreamPages(first, { items: [ref("b"), ref("c")], nextToken: null }, { args: { nextToken: "t1" } });
    expect(next.items.map((r) => r.__ref)).toEqual(["Stream:a", "Stream:b", "Stream:c"]);
    expect(next.nextToken).toBeNull();
    const again = mergeStreamPages(next, { items: [ref("d")], nextToken: "t2" }, { args: {} });
    expect(again).toEqual({ items: [ref("d")], nextToken: "t2" });
  });
});

describe("stream routes", () => {
  it("finds the streams pages", () => {
    expect(parseRoute("/streams").streams).toEqual({ kind: "browse" });
    expect(parseRoute("/streams/").streams).toEqual({ kind: "browse" });
    expect(parseRoute(streamPath("a b")).streams).toEqual({ kind: "watch", streamId: "a b" });
    expect(parseRoute(studioPath()).streams).toEqual({ kind: "studio", streamId: null });
    expect(parseRoute(studioPath("s1")).streams).toEqual({ kind: "studio", streamId: "s1" });
    expect(parseRoute("/streams/a/b").streams).toBeNull();
    expect(parseRoute("/rooms/r1")).toMatchObject({ roomId: "r1", streams: null });
  });
});
