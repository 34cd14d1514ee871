// Live streams end to end, with real video: a creator creates a stream in the studio and
// reveals its key; a real ffmpeg publishes a test pattern to the server's real nginx-rtmp,
// which transcodes it into an HLS ladder; a follower hears it went live, watches it play in
// hls.js, picks a quality, chats beside it, sees it end and rates it; a guest on a phone
// watches along; the studio's analytics count the viewers.
//
// tests/test_web_app.py runs the server with the media plane on (CHATQL_MEDIA) and passes
// E2E_FFMPEG; without nginx's RTMP module or ffmpeg it passes E2E_MEDIA_SKIP, the reason.
/* global document, window -- in functions evaluated in the page */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import {
  BASE_URL,
  assertAccessible,
  expectCount,
  message,
  newPerson,
  openApp,
  pageErrors,
  send,
  uniqueName,
  until,
  visible,
  withBrowser,
} from "./lib.mjs";

const FFMPEG = process.env.E2E_FFMPEG;
const SKIP = process.env.E2E_MEDIA_SKIP || "no media plane (E2E_FFMPEG is not set)";
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
/** Going live takes the publisher's connect, the hook, and the transcoder's first segments. */
const LIVE_TIMEOUT = 30_000;

/** ffmpeg publishing a test pattern with a tone, as a broadcaster would; stop() ends it. */
function publish(url) {
  const args = [
    ...["-hide_banner", "-loglevel", "warning", "-re"],
    ...["-f", "lavfi", "-i", "testsrc=size=640x360:rate=30"],
    ...["-f", "lavfi", "-i", "sine=frequency=440"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30"],
    ...["-c:a", "aac", "-t", "120", "-f", "flv", url],
  ];
  const child = spawn(FFMPEG, args, { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr.on("data", (chunk) => {
    output = (output + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    output: () => output,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT"); // a clean unpublish
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function videoTime(page) {
  return page.locator("video").evaluate((video) => video.currentTime);
}

/** The number in "N watching" on the watch page. */
async function watching(page) {
  const text = await page.locator(".viewer-count").textContent();
  return Number(/([\d.]+)/.exec(text ?? "")?.[1] ?? NaN);
}

/** The value shown for one of the analytics' numbers. */
function stat(page, label) {
  return page.locator(".stat").filter({ has: page.locator("dt", { hasText: label }) }).locator("dd");
}

test("a stream goes live from ffmpeg, is watched, followed, chatted in, ends and is rated", { timeout: 120_000 }, (t) =>
  withBrowser(t, async (browser) => {
    if (!FFMPEG) {
      t.skip(SKIP);
      return;
    }
    const cleo = await newPerson(browser, "Cleo Caster", "cleo");
    const vic = await newPerson(browser, "Vic Viewer", "vic");
    const title = `Test pattern ${uniqueName("tp")}`;

    // The studio: a new stream, its key hidden until revealed.
    const studio = cleo.page;
    await studio.getByRole("link", { name: "Streams", exact: true }).click();
    await studio.getByRole("link", { name: "Creator studio" }).click();
    await studio.getByRole("button", { name: "New stream" }).click();
    const form = studio.getByRole("dialog", { name: "New stream" });
    await form.getByRole("textbox", { name: "Title" }).fill(title);
    await form.getByRole("textbox", { name: "Description" }).fill("Colour bars and a 440 Hz tone");
    await form.getByRole("combobox", { name: "Category" }).fill("Science");
    await form.getByRole("textbox", { name: "Tags" }).fill("#E2E, test-pattern");
    await form.getByRole("button", { name: "Create stream" }).click();
    await visible(studio.getByRole("heading", { level: 1, name: title }));
    const keyBox = studio.getByRole("textbox", { name: "Stream key" });
    const server = studio.getByRole("textbox", { name: "Server" });
    const ingest = await until("the ingest URL", async () => {
      const value = await server.inputValue();
      return /^rtmps?:\/\//.test(value) && value;
    });
    assert.doesNotMatch(await keyBox.inputValue(), /sk_/, "the key is hidden by default");
    await assertAccessible(studio, "the creator studio");
    await studio.getByRole("button", { name: "Reveal key" }).click();
    const key = await until("the revealed key", async () => {
      const value = await keyBox.inputValue();
      return value.startsWith("sk_") && value;
    });
    const streamId = new URL(studio.url()).pathname.split("/").pop();

    // Vic finds it among the upcoming streams, follows Cleo, and goes back to the rooms.
    const page = vic.page;
    // What the browser refused (a Content-Security-Policy without the media origin, say),
    // to explain a video that does not start.
    const refusals = [];
    page.on("console", (m) => m.type() === "error" && refusals.push(m.text().replace(/blob:[^']*/, "blob:…")));
    await page.getByRole("link", { name: "Streams", exact: true }).click();
    await page.getByRole("searchbox", { name: "Tag" }).fill("#e2e");
    const upcoming = page.getByRole("region", { name: "Upcoming" });
    await upcoming.getByRole("link", { name: new RegExp(title) }).click();
    await visible(page.getByRole("heading", { level: 1, name: title }));
    await visible(page.getByText("Starting soon"));
    await page.getByRole("button", { name: "Follow Cleo Caster" }).click();
    await visible(page.getByRole("button", { name: "Unfollow Cleo Caster" }));
    await visible(page.getByText("1 follower", { exact: false }));
    await page.getByRole("link", { name: "ChatQL" }).click();

    // Live: ffmpeg publishes to the real nginx-rtmp; followers hear of it.
    const ffmpeg = publish(`${ingest}/${key}`);
    try {
      const bell = page.getByRole("button", { name: /^Notifications, 1 unread/ });
      await bell.waitFor({ timeout: LIVE_TIMEOUT }).catch((error) => {
        throw new Error(`${error.message}\nffmpeg running: ${ffmpeg.running()}\n${ffmpeg.output()}`);
      });
      await bell.click();
      await page.getByRole("region", { name: "Notifications" }).getByRole("button", { name: new RegExp(`Cleo Caster.*is live.*${title}`) }).click();
      assert.equal(new URL(page.url()).pathname, `/streams/${streamId}`);
      await visible(page.getByRole("heading", { level: 1, name: title }));
      await visible(page.locator(".watch-status").getByText("Live", { exact: true }));
      await until("a viewer counted", async () => (await watching(page)) >= 1, LIVE_TIMEOUT);

      // The video plays: its clock moves on.
      const video = page.locator("video");
      await until("the video to start", async () => (await videoTime(page)) > 0.5, LIVE_TIMEOUT).catch((error) => {
        throw new Error(`${error.message}\nthe browser's errors:\n${[...new Set(refusals)].join("\n")}`);
      });
      const before = await videoTime(page);
      await page.waitForTimeout(3_000); // playback time must pass for currentTime to advance
      const after = await videoTime(page);
      assert.ok(after - before > 1.5, `the video played on (${before} s → ${after} s)`);
      assert.equal(await video.evaluate((v) => v.paused), false);

      // The quality menu lists Auto and the ladder's renditions.
      await page.getByRole("button", { name: /^Quality: Auto/ }).click();
      const menu = page.getByRole("group", { name: "Quality" });
      const choices = await menu.getByRole("button").allTextContents();
      assert.deepEqual(choices, ["Auto", "360p", "240p"]);
      await menu.getByRole("button", { name: "240p" }).click();
      await visible(page.getByRole("button", { name: "Quality: 240p" }));

      // The chat beside the player: join, write, see it.
      await page.getByRole("region", { name: "Live chat" }).getByRole("button", { name: "Join chat" }).click();
      await send(page, "Lovely colour bars!");
      await visible(message(page, "Lovely colour bars!"));
      await assertAccessible(page, "the watch page, live");

      // A guest on a phone watches along: counted, reading the chat, nothing to write with.
      const guest = await openApp(browser, PHONE);
      await guest.goto(`${BASE_URL}/streams/${streamId}`);
      await guest.getByRole("button", { name: "Continue as guest" }).click();
      await visible(guest.getByRole("heading", { level: 1, name: title }));
      await visible(message(guest, "Lovely colour bars!"));
      await expectCount(guest.getByRole("textbox", { name: "Message" }), 0, "the guest's composer");
      await until("the guest's video to play", async () => (await videoTime(guest)) > 0.5, LIVE_TIMEOUT);
      await until("both viewers counted", async () => (await watching(page)) >= 2, LIVE_TIMEOUT);
      const overflow = await guest.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the watch page is ${overflow} px wider than 360 px`);
      await guest.context().close();

      // The broadcaster stops: the page says so and offers the rating.
      await ffmpeg.stop();
      await page.locator(".watch-status").getByText("Ended", { exact: true }).waitFor({ timeout: LIVE_TIMEOUT });
    } finally {
      await ffmpeg.stop();
    }
    // The same address is now the replay, from its start.
    await visible(page.getByText("This stream has ended. Watch the replay:"));
    const replayTime = () =>
      page.locator("video").evaluate((v) => {
        v.muted = true; // so that play() without a click is allowed
        if (v.paused) v.play().catch(() => undefined); // (again, should the player start over)
        return v.currentTime;
      });
    await until("the replay to play", async () => (await replayTime()) > 1, LIVE_TIMEOUT);

    const rating = page.getByRole("group", { name: "Rate this stream" });
    await visible(rating);
    await rating.locator("label", { hasText: "4 stars" }).click();
    assert.ok(await rating.getByRole("radio", { name: "4 stars" }).isChecked());
    await page.getByRole("textbox", { name: "Comment (optional)" }).fill("Crisp bars");
    await page.getByRole("button", { name: "Rate", exact: true }).click();
    await visible(page.getByText("Thanks! You rated this stream 4 of 5."));
    await visible(page.getByText("4.0 ★ from 1 rating"));

    // The studio's analytics: Vic and the guest were there.
    await studio.reload();
    await visible(studio.getByRole("heading", { level: 2, name: "Analytics" }));
    const peak = await until("the peak", async () => {
      const n = Number(await stat(studio, "Peak viewers").textContent());
      return n >= 1 && n;
    });
    assert.ok(peak >= 2, `peak viewers ${peak}`);
    await visible(studio.getByRole("img", { name: /Viewers over time/ }));
    assert.equal(await stat(studio, "Rating").textContent(), "4.0 ★ (1)");
    await assertAccessible(studio, "the studio's analytics");
    assert.deepEqual(pageErrors(page), []);
    assert.deepEqual(pageErrors(studio), []);
  }),
);

/** createStream through the API as the person signed in on `page` (for lists long enough to page). */
async function createStreams(page, inputs) {
  return page.evaluate(async (all) => {
    const { accessToken } = JSON.parse(localStorage.getItem("chatql.session"));
    const ids = [];
    for (const input of all) {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ query: "mutation($i: CreateStreamInput!) { createStream(input: $i) { id } }", variables: { i: input } }),
      });
      ids.push((await response.json()).data.createStream.id);
    }
    return ids;
  }, inputs);
}

test("the studio schedules, edits, rotates a key and cancels; the directory filters and pages", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const dana = await newPerson(browser, "Dana Director", "dana");
    const page = dana.page;
    const tag = uniqueName("t").replace(/[_.]/g, "-");
    const title = `Pasta night ${tag}`;

    // Scheduled two days ahead: the studio and the watch page count down to it.
    await page.getByRole("link", { name: "Streams", exact: true }).click();
    await page.getByRole("link", { name: "Creator studio" }).click();
    await page.getByRole("button", { name: "New stream" }).click();
    const form = page.getByRole("dialog", { name: "New stream" });
    await form.getByRole("textbox", { name: "Title" }).fill(title);
    await form.getByRole("combobox", { name: "Category" }).fill("Cooking");
    await form.getByRole("textbox", { name: "Tags" }).fill(`${tag} -nope`);
    await form.getByRole("button", { name: "Create stream" }).click();
    await visible(form.getByRole("alert").getByText(/-nope: tags are/));
    await form.getByRole("textbox", { name: "Tags" }).fill(tag);
    const start = new Date(Date.now() + 2 * 86_400_000 + 3_600_000 + 5 * 60_000); // minutes to spare: the field drops seconds
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await form.getByLabel("Scheduled start").fill(local(start));
    await form.getByRole("button", { name: "Create stream" }).click();
    await visible(page.getByRole("heading", { level: 1, name: title }));
    await visible(page.getByText(/^Planned for /));

    // Edit: only what changed is sent.
    await page.getByRole("textbox", { name: "Title" }).fill(`${title}!`);
    await page.getByRole("button", { name: "Save changes" }).click();
    await visible(page.getByRole("status").getByText("Saved."));
    await visible(page.getByRole("heading", { level: 1, name: `${title}!` }));

    // The key: hidden, then shown; rotating it asks first and gives a new one.
    const keyBox = page.getByRole("textbox", { name: "Stream key" });
    await page.getByRole("button", { name: "Reveal key" }).click();
    const first = await until("the key", async () => {
      const value = await keyBox.inputValue();
      return value.startsWith("sk_") && value;
    });
    await page.getByRole("button", { name: "Rotate key" }).click();
    const confirm = page.getByRole("dialog", { name: "Rotate the stream key?" });
    await confirm.getByRole("button", { name: "Keep the current key" }).click();
    assert.equal(await keyBox.inputValue(), first);
    await page.getByRole("button", { name: "Rotate key" }).click();
    await confirm.getByRole("button", { name: "Rotate key" }).click();
    await visible(page.getByText(/A new key is ready/));
    const second = await keyBox.inputValue();
    assert.ok(second.startsWith("sk_") && second !== first, "a new key");
    await page.getByRole("button", { name: "Hide key" }).click();
    assert.doesNotMatch(await keyBox.inputValue(), /sk_/);

    const streamId = new URL(page.url()).pathname.split("/").pop();
    await page.getByRole("link", { name: "Watch page" }).click();
    await visible(page.getByRole("timer", { name: /^Starts in 2 days 1 hour/ }));

    // The directory: a tag finds this creator's streams, thirteen of them in pages of twelve.
    await createStreams(page, Array.from({ length: 12 }, (_, i) => ({ title: `Batch ${i} ${tag}`, tags: [tag] })));
    await page.getByRole("link", { name: "Streams", exact: true }).click();
    // (the unfiltered list may look the same: wait for the filtered answer)
    const filtered = page.waitForResponse((r) => {
      const variables = r.request().postDataJSON()?.variables;
      return r.url().endsWith("/graphql") && variables?.tag === tag && variables?.status === "SCHEDULED";
    });
    await page.getByRole("searchbox", { name: "Tag" }).fill(`#${tag}`);
    await filtered;
    const upcoming = page.getByRole("region", { name: "Upcoming" });
    await expectCount(upcoming.getByRole("link"), 12, "the first page of upcoming streams");
    await upcoming.getByRole("button", { name: "Show more upcoming" }).click();
    await expectCount(upcoming.getByRole("link"), 13, "both pages");
    await assertAccessible(page, "the streams directory");

    // A search narrows it; the category chips filter.
    await page.getByRole("searchbox", { name: "Search streams" }).fill("Pasta night");
    await expectCount(upcoming.getByRole("link"), 1, "the stream found by its title");
    await page.getByRole("searchbox", { name: "Search streams" }).fill("");
    await page.getByRole("group", { name: "Category" }).getByRole("button", { name: /^cooking/i }).click();
    await expectCount(upcoming.getByRole("link"), 1, "the Cooking stream");

    // Cancelled: the watch page says so; the studio offers nothing more to do with it.
    await page.goto(`${BASE_URL}/studio/${streamId}`);
    await page.getByRole("button", { name: "Cancel stream" }).click();
    await page.getByRole("dialog", { name: "Cancel this stream?" }).getByRole("button", { name: "Cancel stream" }).click();
    await visible(page.locator(".page-head .status-badge", { hasText: "Cancelled" }));
    await expectCount(page.getByRole("textbox", { name: "Stream key" }), 0, "the key of a cancelled stream");
    await page.getByRole("link", { name: "Watch page" }).click();
    await visible(page.getByText("This stream was cancelled."));
    assert.deepEqual(pageErrors(page), []);
  }),
);
