// Shared helpers of the browser tests (`node --test web/app/e2e/`, run by tests/test_web_app.py
// against a real `python -m chatql` that serves the built app at CHATQL_URL).
//
// Debian's Chromium driven by playwright-core (Playwright's own browser download does not work
// here). Everything waits on conditions, never on fixed sleeps.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import { chromium } from "playwright-core";

export const BASE_URL = (process.env.CHATQL_URL ?? "http://127.0.0.1:8000").replace(/\/$/, "");
export const ARTIFACTS = resolve(process.env.E2E_ARTIFACTS ?? new URL("./artifacts", import.meta.url).pathname);
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** How long one condition may take before the test fails. */
export const TIMEOUT = 10_000;
export const PASSWORD = "correct horse battery";

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
  });
}

/** A username nobody else has used: 3-32 of [a-z0-9_.-]. */
export function uniqueName(prefix) {
  const suffix = `${Date.now().toString(36).slice(-4)}${Math.random().toString(36).slice(2, 8)}`;
  return `${prefix}_${suffix}`.toLowerCase().slice(0, 32);
}

export function artifact(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/**
 * A browser for one test, closed after it. On failure every open page is saved as a
 * screenshot in E2E_ARTIFACTS, named after the test.
 */
export async function withBrowser(t, body) {
  const browser = await launch();
  try {
    await body(browser);
  } catch (error) {
    const slug = t.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase().slice(0, 60);
    let n = 0;
    for (const context of browser.contexts()) {
      for (const page of context.pages()) {
        n += 1;
        await page.screenshot({ path: artifact(`failure-${slug}-${n}.png`), fullPage: true }).catch(() => undefined);
      }
    }
    throw error;
  } finally {
    await browser.close();
  }
}

/** Poll `check` until it returns a truthy value (which is returned); fail with `what`. */
export async function until(what, check, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until `locator` matches exactly `n` elements. */
export async function expectCount(locator, n, what = String(locator)) {
  await until(`${n} × ${what}`, async () => (await locator.count()) === n);
}

/** Wait until the (single) element of `locator` has the attribute value. */
export async function expectAttribute(locator, name, value) {
  await until(`${locator} [${name}=${value}]`, async () => (await locator.getAttribute(name)) === value);
}

export async function visible(locator) {
  await locator.waitFor({ state: "visible", timeout: TIMEOUT });
  return locator;
}

export async function gone(locator) {
  await locator.waitFor({ state: "detached", timeout: TIMEOUT });
}

const errorsOf = new WeakMap();

/** Uncaught errors thrown in `page` so far (as strings). */
export function pageErrors(page) {
  return (errorsOf.get(page) ?? []).map(String);
}

/** A new browser context (one person), on the sign-in page. */
export async function openApp(browser, { viewport = { width: 1280, height: 800 }, ...options } = {}) {
  const context = await browser.newContext({ viewport, reducedMotion: "reduce", ...options });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  const errors = [];
  errorsOf.set(page, errors);
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${BASE_URL}/`);
  await visible(page.getByRole("button", { name: "Sign in", exact: true }));
  return page;
}

/** The sign-up form's terms checkbox (there when the server has terms of service). */
export function termsBox(page) {
  return page.getByRole("checkbox", { name: /I accept the terms of service/ });
}

/**
 * Fill in the sign-up form (an email when given; the terms ticked when the server has some,
 * unless `acceptTerms` is false) and submit it.
 */
export async function fillSignUp(page, { username, displayName, password = PASSWORD, email, acceptTerms = true }) {
  await page.getByRole("button", { name: "Create account", exact: true }).click();
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  if (email) await page.getByRole("textbox", { name: /^Email/ }).fill(email);
  await page.getByRole("textbox", { name: "Password" }).fill(password);
  await page.getByRole("textbox", { name: "Display name" }).fill(displayName);
  // The form is drawn once the server's sign-in options are known, the checkbox with it.
  if (acceptTerms && (await termsBox(page).count()) > 0) await termsBox(page).check();
  await page.getByRole("button", { name: "Create account", exact: true }).click();
}

/** Create an account through the sign-up form; returns once the signed-in shell is shown. */
export async function signUp(page, options) {
  await fillSignUp(page, options);
  await visible(rooms(page));
}

/** Sign in through the form (by username or email); the shell is not waited for. */
export async function fillSignIn(page, name, password = PASSWORD) {
  await page.getByRole("textbox", { name: "Username" }).fill(name);
  await page.getByRole("textbox", { name: "Password", exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

/** Sign out from the top bar; returns on the sign-in screen. */
export async function signOut(page) {
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await visible(page.getByRole("button", { name: "Sign in", exact: true }));
}

/** A new context with a freshly registered person: { page, username, displayName }. */
export async function newPerson(browser, displayName, prefix = "e2e", options = {}) {
  const page = await openApp(browser, options);
  const username = uniqueName(prefix);
  await signUp(page, { username, displayName });
  return { page, username, displayName };
}

export function rooms(page) {
  return page.getByRole("navigation", { name: "Rooms" });
}

export function roomLink(page, name) {
  return rooms(page).getByRole("link", { name, exact: true });
}

export function log(page) {
  return page.getByRole("log", { name: "Messages" });
}

/** The messages (confirmed or pending) whose text contains `text`. */
export function articles(page, text) {
  return log(page).locator("article", { hasText: text });
}

/** The confirmed message (stored by the server: it has a seq) containing `text`. */
export function message(page, text) {
  return log(page).locator("article[data-seq]", { hasText: text });
}

/** Open the direct chat with `other` through "Search users". */
export async function openDirectChat(page, other) {
  await page.getByRole("searchbox", { name: "Search users" }).fill(other.username);
  await page.getByRole("button").filter({ hasText: `@${other.username}` }).click();
  await visible(page.getByRole("heading", { level: 1, name: other.displayName, exact: true }));
  await visible(page.getByRole("textbox", { name: "Message" }));
}

/** Open a room from the Rooms navigation, once it is there. */
export async function openRoom(page, name) {
  await roomLink(page, name).click();
  await visible(page.getByRole("heading", { level: 1, name, exact: true }));
  await visible(page.getByRole("textbox", { name: "Message" }));
}

/** Create a room through the "New room" dialog, inviting `invitees`; returns in the room. */
export async function createRoom(page, { name, description = "", invitees = [] }) {
  await page.getByRole("button", { name: "New room", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "New room" });
  await dialog.getByRole("textbox", { name: "Room name" }).fill(name);
  if (description) await dialog.getByRole("textbox", { name: "Description" }).fill(description);
  for (const person of invitees) {
    await dialog.getByRole("searchbox", { name: "Invite people" }).fill(person.username);
    await dialog.getByRole("button", { name: `Invite ${person.displayName} @${person.username}`, exact: true }).click();
    await visible(dialog.getByRole("list", { name: "Invited" }).getByText(person.displayName));
  }
  await dialog.getByRole("button", { name: "Create room", exact: true }).click();
  await gone(dialog);
  await visible(page.getByRole("heading", { level: 1, name, exact: true }));
  await visible(page.getByRole("textbox", { name: "Message" }));
}

/** Type and send with Enter; returns once the server has confirmed the message. */
export async function send(page, text) {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
  await visible(message(page, text));
  await until("the composer to be emptied", async () => (await box.inputValue()) === "");
}

/** The texts of the top-level messages, in DOM (display) order. */
export async function messageTexts(page) {
  return log(page)
    .locator("article")
    .evaluateAll((nodes) => nodes.map((n) => n.querySelector(".text")?.textContent ?? ""));
}

/** The per-message action button (revealed on hover) of the message containing `text`. */
export async function messageAction(page, text, name) {
  const item = message(page, text);
  await item.hover();
  return item.getByRole("button", { name, exact: true });
}

/** Whether the message containing `text` is rendered and wholly inside the log's viewport. */
export async function fullyShown(page, text) {
  const item = message(page, text);
  if ((await item.count()) !== 1) return false;
  const [box, view] = await Promise.all([
    item.boundingBox(),
    log(page).locator("[data-virtuoso-scroller]").boundingBox(),
  ]);
  return !!box && !!view && box.y >= view.y - 1 && box.y + box.height <= view.y + view.height + 1;
}

const BLOCKING = new Set(["serious", "critical"]);

/** axe-core on the page as it is (an open dialog included): no serious or critical violation. */
export async function assertAccessible(page, screen) {
  const results = await new AxeBuilder({ page }).analyze();
  const blocking = results.violations.filter((v) => BLOCKING.has(v.impact));
  const report = blocking
    .map((v) => {
      const nodes = v.nodes.map((n) => `    ${n.target.join(" ")}: ${n.failureSummary?.replace(/\s+/g, " ")}`);
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join("\n")}`;
    })
    .join("\n");
  assert.equal(blocking.length, 0, `axe found serious/critical violations on ${screen}:\n${report}`);
}

/** Whether the <img> of `locator` has loaded a picture. */
export async function loadedImage(locator) {
  await until(`${locator} to load`, () => locator.evaluate((img) => img.complete && img.naturalWidth > 0));
}
