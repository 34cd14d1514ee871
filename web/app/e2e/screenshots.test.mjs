// Screenshots of the sign-in page and a room at 360 px (phone) and 1280 px (desktop) wide, into
// E2E_ARTIFACTS. With UPDATE_DOCS_SCREENSHOTS=1 the room views are copied to
// docs/screenshot-360.png and docs/screenshot-1280.png as well.
/* global document, window, HTMLElement -- in functions evaluated in the page */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { test } from "node:test";
import {
  BASE_URL,
  PASSWORD,
  artifact,
  createRoom,
  fullyShown,
  loadedImage,
  log,
  newPerson,
  openApp,
  openRoom,
  send,
  until,
  visible,
  withBrowser,
} from "./lib.mjs";

// A room must open at its newest message, wholly in view, with no scrolling by the test.

const DOCS = new URL("../../../docs/", import.meta.url).pathname;
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
const DESKTOP = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 };

/** Wait until the room's newest message (`text`) is wholly in view. */
async function atNewest(page, text) {
  await visible(log(page).locator("article[data-seq]").first()); // the history is there
  await until(`"${text}" wholly in view`, async () => {
    return fullyShown(page, text); // the room opens at its newest message, with no scrolling
  });
  await page.getByRole("button", { name: "Jump to latest ↓" }).waitFor({ state: "hidden" });
}

/** A small latency chart as PNG bytes, drawn on a canvas in the page (no image files kept). */
async function chart(page) {
  const url = await page.evaluate(() => {
    const canvas = document.createElement("canvas");
    canvas.width = 480;
    canvas.height = 240;
    const g = canvas.getContext("2d");
    g.fillStyle = "#f8fafc";
    g.fillRect(0, 0, 480, 240);
    g.strokeStyle = "#cbd5e1";
    for (let y = 40; y < 240; y += 40) {
      g.beginPath();
      g.moveTo(30, y);
      g.lineTo(470, y);
      g.stroke();
    }
    const series = [
      ["#2563eb", [150, 140, 146, 132, 138, 128, 134, 126, 130, 124, 129, 122]],
      ["#f97316", [96, 90, 100, 84, 92, 80, 88, 78, 86, 76, 82, 74]],
    ];
    for (const [colour, points] of series) {
      g.strokeStyle = colour;
      g.lineWidth = 3;
      g.beginPath();
      points.forEach((v, i) => (i ? g.lineTo(30 + i * 40, v) : g.moveTo(30, v)));
      g.stroke();
    }
    return canvas.toDataURL("image/png");
  });
  return Buffer.from(url.split(",")[1], "base64");
}

/** Wait for a settled page (fonts, no connection banner), check its width, save it. */
async function shoot(page, name, width) {
  await page.evaluate(() => document.fonts.ready);
  // no focus ring on the composer, no hover highlight on a message
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await page.mouse.move(0, 0);
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor({ state: "hidden" });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the ${width} px viewport`);
  const path = artifact(`${name}-${width}.png`);
  const png = await page.screenshot({ path, animations: "disabled", caret: "hide" });
  assert.equal(png.readUInt32BE(16), width, `${name}: screenshot width`);
  return path;
}

test("screenshots of the sign-in page and a room at 360 and 1280 px", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const desktopSignIn = await openApp(browser, DESKTOP);
    await shoot(desktopSignIn, "sign-in", 1280);
    const phoneSignIn = await openApp(browser, PHONE);
    await shoot(phoneSignIn, "sign-in", 360);
    await desktopSignIn.context().close();

    const ada = await newPerson(browser, "Ada Lovelace", "ada", DESKTOP);
    const grace = await newPerson(browser, "Grace Hopper", "grace");
    const alan = await newPerson(browser, "Alan Turing", "alan");
    const roomName = "launch";
    await createRoom(ada.page, {
      name: roomName,
      description: "Everything about Friday's release",
      invitees: [grace, alan],
    });
    await openRoom(grace.page, roomName);
    await openRoom(alan.page, roomName);
    const conversation = [
      [ada, "Morning all! Release candidate 3 is up on staging."],
      [grace, "Great, I'll run the migration checks against a copy of production now."],
      [alan, "Load test from last night: p99 at 41 ms with 5k sockets, no errors."],
      [grace, "Migrations are clean. Shall we tag it after lunch?"],
      [ada, "Yes, let's tag at 14:00 and ship on Friday morning."],
    ];
    for (const [person, text] of conversation.slice(0, 3)) await send(person.page, text);
    // Alan shares the latency chart: a picture with a thumbnail, above the rest.
    const composer = alan.page.locator("section.room-main form.composer");
    await composer.locator("input[type=file]").setInputFiles([
      { name: "latency-p99.png", mimeType: "image/png", buffer: await chart(alan.page) },
    ]);
    await visible(alan.page.getByRole("button", { name: "Remove latency-p99.png", exact: true }));
    await send(alan.page, "Here is the overnight latency chart.");
    for (const [person, text] of conversation.slice(3)) await send(person.page, text);
    const last = conversation.at(-1)[1];
    await atNewest(ada.page, last);
    await loadedImage(log(ada.page).locator('img[alt="latency-p99.png"]'));
    const desktopRoom = await shoot(ada.page, "room", 1280);

    // The same person on a phone: signs in, sees the rooms list, opens the room.
    const phone = phoneSignIn;
    await phone.getByRole("textbox", { name: "Username" }).fill(ada.username);
    await phone.getByRole("textbox", { name: "Password" }).fill(PASSWORD);
    await phone.getByRole("button", { name: "Sign in", exact: true }).click();
    await visible(phone.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: roomName }));
    await shoot(phone, "rooms", 360);
    await openRoom(phone, roomName);
    await atNewest(phone, last);
    const phoneRoom = await shoot(phone, "room", 360);
    assert.equal(new URL(phone.url()).origin, new URL(BASE_URL).origin);

    if (process.env.UPDATE_DOCS_SCREENSHOTS === "1") {
      mkdirSync(DOCS, { recursive: true });
      copyFileSync(phoneRoom, `${DOCS}screenshot-360.png`);
      copyFileSync(desktopRoom, `${DOCS}screenshot-1280.png`);
    }
  }),
);
