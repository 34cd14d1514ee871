// `make web-audit`: Lighthouse scores of the built app served by a running ChatQL, and the
// size of the JavaScript the first page load needs (gzipped). Prints numbers; asserts nothing.
import { execFile } from "node:child_process";
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const run = promisify(execFile);
const url = process.env.CHATQL_URL ?? "http://127.0.0.1:8000";
const dist = new URL("../../../chatql/static/app/", import.meta.url).pathname;
const goals = { performance: 90, accessibility: 95, "best-practices": 95 };

function initialScripts() {
  const html = readFileSync(join(dist, "index.html"), "utf8");
  const srcs = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="([^"]+\.js)"/g)].map((m) => m[1]);
  return srcs.map((src) => {
    const bytes = readFileSync(join(dist, src.replace(/^\//, "")));
    return { src, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
}

const desktop = process.argv.includes("--desktop");
if (!desktop) {
  const scripts = initialScripts();
  const total = scripts.reduce((n, s) => n + s.gzip, 0);
  console.log("Initial JavaScript (the entry and its modulepreloads):");
  for (const s of scripts) console.log(`  ${s.src}: ${(s.raw / 1024).toFixed(1)} KB, ${(s.gzip / 1024).toFixed(1)} KB gzipped`);
  console.log(`  total ${(total / 1024).toFixed(1)} KB gzipped (goal <= 200 KB)`);
}

const out = join(mkdtempSync(join(tmpdir(), "chatql-lh-")), "report.json");
const bin = new URL("../node_modules/.bin/lighthouse", import.meta.url).pathname;
const flags = "--headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --no-first-run --disable-sync";
const preset = desktop ? ["--preset=desktop"] : [];
await run(
  bin,
  [url + "/", `--chrome-flags=${flags}`, "--output=json", `--output-path=${out}`, "--quiet",
   "--only-categories=performance,accessibility,best-practices", ...preset],
  { env: { ...process.env, CHROME_PATH: process.env.CHROME_PATH ?? "/usr/bin/chromium" }, maxBuffer: 1 << 26 },
);
const report = JSON.parse(readFileSync(out, "utf8"));
console.log(`Lighthouse ${report.lighthouseVersion} on ${url}/ (${preset.length ? "desktop" : "mobile"} preset):`);
for (const [id, goal] of Object.entries(goals)) {
  const score = Math.round((report.categories[id]?.score ?? 0) * 100);
  console.log(`  ${id}: ${score} (goal >= ${goal})`);
}
for (const id of ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift"]) {
  console.log(`  ${report.audits[id].title}: ${report.audits[id].displayValue}`);
}
const failing = Object.values(report.audits).filter((a) => a.score !== null && a.score < 0.9 && a.scoreDisplayMode === "binary");
if (failing.length) console.log("Audits to look at:", failing.map((a) => a.id).join(", "));
