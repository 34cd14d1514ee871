// The AI assistant in the browser, answered by the test suite's OpenAI-compatible server
// (tests/openai_server.py, scripted by [[markers]] in the question; E2E_OPENAI_RECORD is its
// record of requests): added to a room from the members panel, picked from the @-autocomplete,
// its reply growing in several steps, a long reply stopped by its asker, a direct chat, a
// provider error, and the composer's suggestions at 360 px.
/* global document, window -- in functions evaluated in the page */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import {
  createRoom,
  expectAttribute,
  expectCount,
  fullyShown,
  gone,
  log,
  newPerson,
  openRoom,
  pageErrors,
  send,
  uniqueName,
  until,
  visible,
  withBrowser,
} from "./lib.mjs";

const RECORD = process.env.E2E_OPENAI_RECORD;
/** What the test model answers to [[long]]: sixty words, one chunk each, 25 ms apart. */
const LONG_TEXT = Array.from({ length: 60 }, (_, i) => `w${String(i + 1).padStart(3, "0")}`).join(" ");

/** The assistant's messages in the open room's log, oldest first. */
function replies(page) {
  return log(page).getByRole("article", { name: /^Assistant, / });
}

/** A reply's text ("" while it is still thinking) and whether it is still being written. */
function readReply(article) {
  return article.evaluate((node) => ({
    text: node.querySelector("p.text:not(.writing)")?.textContent ?? "",
    busy: node.getAttribute("aria-busy") === "true",
  }));
}

/** Sample a reply until it is finished: the distinct texts seen, in order. */
async function watchReply(page, article) {
  const texts = [];
  let wasBusy = false;
  const jump = page.getByRole("button", { name: "Jump to latest ↓" });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { text, busy } = await readReply(article);
    if (text !== (texts.at(-1) ?? "")) texts.push(text);
    wasBusy ||= busy;
    // the log follows the growing reply down: never left behind with "Jump to latest"
    assert.equal(await jump.isVisible(), false, "the log stays at the end while the reply grows");
    if (!busy && text) return { texts, wasBusy };
    assert.ok(Date.now() < deadline, `the reply did not finish: ${JSON.stringify(texts.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/**
 * The requests the test model received whose question (the last user message) contains `text`
 * (the record is the test session's: questions name their room to be told apart).
 */
function requestsAsking(text) {
  if (!existsSync(RECORD)) return [];
  return readFileSync(RECORD, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line))
    .filter((r) => {
      const asked = r.body.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
      return String(asked).includes(text);
    });
}

test(
  "the assistant: added, mentioned, streaming, stopped, asked directly, at 360 px",
  { timeout: 60_000, skip: !RECORD && "E2E_OPENAI_RECORD is not set: the server has no assistant" },
  (t) =>
    withBrowser(t, async (browser) => {
      const ann = await newPerson(browser, "Ann Asker", "ann");
      const bob = await newPerson(browser, "Bob Asker", "bob");
      const a = ann.page;
      const b = bob.page;
      const roomName = uniqueName("ai");
      await createRoom(a, { name: roomName, invitees: [bob] });
      await openRoom(b, roomName);

      // Ann adds the assistant from the members panel: found by search, marked as a bot.
      await a.getByRole("button", { name: "Members", exact: true }).click();
      const panel = a.getByRole("complementary", { name: "Members" });
      await panel.getByRole("searchbox", { name: "Add someone" }).fill("assistant");
      await panel.getByRole("button", { name: "Add Assistant @assistant bot", exact: true }).click();
      const botRow = panel.getByRole("listitem").filter({ hasText: "@assistant" });
      await visible(botRow.getByText("bot", { exact: true }));
      await panel.getByRole("button", { name: "Close members" }).click();

      // @ass offers the assistant first; Enter picks it.
      const box = a.getByRole("textbox", { name: "Message" });
      await box.pressSequentially("@ass");
      const suggestions = a.getByRole("listbox", { name: "Mention suggestions" });
      const first = suggestions.getByRole("option").first();
      await expectAttribute(await visible(first), "aria-selected", "true");
      assert.equal((await first.textContent()).replace(/\s+/g, " ").trim(), "Assistant @assistant bot");
      await box.press("Enter");
      await gone(suggestions);
      assert.equal(await box.inputValue(), "@assistant ");
      const longQuestion = `tell me a long story about ${roomName} [[long]]`;
      await box.pressSequentially(longQuestion);
      await box.press("Enter");

      // The reply grows in several steps, only ever longer, and ends complete; Bob, who did not
      // ask it and is no admin, sees it stream without a Stop button.
      await expectCount(replies(a), 1, "the assistant's reply");
      const annReply = replies(a).first();
      const bobReply = replies(b).first();
      const [{ texts, wasBusy }] = await Promise.all([
        watchReply(a, annReply),
        until("Bob to see the reply being written, with no Stop", async () => {
          const { busy } = await readReply(bobReply);
          return busy && (await bobReply.getByRole("button", { name: /^Stop/ }).count()) === 0;
        }),
      ]);
      assert.ok(wasBusy, "the reply was marked as being written");
      assert.ok(texts.length >= 3, `the reply grew in several steps: ${JSON.stringify(texts)}`);
      for (let i = 1; i < texts.length; i++) {
        assert.ok(texts[i].startsWith(texts[i - 1].trimEnd()), `grows monotonically: ${JSON.stringify(texts)}`);
      }
      assert.equal(texts.at(-1), LONG_TEXT);
      await until("the whole reply in view", () => fullyShown(a, "w060"));
      await visible(annReply.getByText("bot", { exact: true }));
      await expectCount(annReply.getByText("(edited)"), 0, "an edited mark on the assistant's reply");
      await until("Bob to see the same reply", async () => (await readReply(bobReply)).text === LONG_TEXT);
      await expectCount(bobReply.getByText("(edited)"), 0, "an edited mark on Bob's side");
      assert.equal(requestsAsking(longQuestion).length, 1);

      // Bob asks for a very long answer and stops it: Stop is his (and Ann's, the owner's).
      const slowQuestion = `go on and on about ${roomName} [[slow]]`;
      await send(b, `@assistant ${slowQuestion}`);
      await expectCount(replies(b), 2, "two replies");
      const slowB = replies(b).nth(1);
      const slowA = replies(a).nth(1);
      await until("the long reply to be under way", async () => (await readReply(slowB)).text.length > 20);
      await visible(slowA.getByRole("button", { name: "Stop reply", exact: true }));
      await slowB.getByRole("button", { name: "Stop reply", exact: true }).click();
      await until("the reply to end stopped", async () => {
        const { text, busy } = await readReply(slowB);
        return !busy && text.endsWith("(Stopped.)");
      });
      await expectCount(slowB.getByRole("button", { name: /^Stop/ }), 0, "Stop once the reply ended");
      await expectCount(slowA.getByRole("button", { name: /^Stop/ }), 0, "Stop on Ann's side once it ended");
      const stopped = (await readReply(slowB)).text;
      assert.ok(stopped.split(" ").length < 200, "stopped well before its 300 words");
      await until("Ann to see it stopped", async () => (await readReply(slowA)).text === stopped);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal((await readReply(slowB)).text, stopped, "nothing is written after the stop");
      assert.equal((await readReply(slowA)).text, stopped);
      const [slowRequest, ...more] = requestsAsking(slowQuestion);
      assert.ok(slowRequest && more.length === 0, "the model was asked once");
      assert.equal(slowRequest.body.model, "test-model");
      assert.equal(slowRequest.body.stream, true);

      // "Ask the assistant" opens the direct chat with it, where every message is answered, and
      // a failure of the provider ends the reply with the server's short note.
      await a.getByRole("button", { name: "Ask the assistant", exact: true }).click();
      await visible(a.getByRole("heading", { level: 1, name: "Assistant", exact: true }));
      await send(a, "hello there");
      await until("the answer in the direct chat", async () => {
        const last = replies(a).last();
        return (await last.count()) === 1 && (await readReply(last)).text === "Hello from the test model.";
      });
      await send(a, "this fails [[500]]");
      await until("the provider's error as a reply", async () => {
        const { text, busy } = await readReply(replies(a).last());
        return !busy && text.includes("the AI service answered with an error (500)");
      });

      // At 360 px the composer and its suggestions fit; Escape closes them.
      await a.setViewportSize({ width: 360, height: 740 });
      const dmBox = a.getByRole("textbox", { name: "Message" });
      await dmBox.pressSequentially("@");
      const list = await visible(a.getByRole("listbox", { name: "Mention suggestions" }));
      await visible(list.getByRole("option", { name: "Assistant @assistant bot" }));
      for (const [what, locator] of [
        ["the suggestions", list],
        ["the message box", dmBox],
        ["Send", a.getByRole("button", { name: "Send", exact: true })],
      ]) {
        const box360 = await locator.boundingBox();
        assert.ok(box360 && box360.x >= 0 && box360.x + box360.width <= 360, `${what} fit in 360 px: ${JSON.stringify(box360)}`);
      }
      const overflow = await a.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than 360 px`);
      await dmBox.press("Escape");
      await gone(list);
      assert.equal(await dmBox.inputValue(), "@");

      assert.deepEqual(pageErrors(a), []);
      assert.deepEqual(pageErrors(b), []);
    }),
);
