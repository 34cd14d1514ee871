// A network drop: what was sent meanwhile shows up once each, in order, after reconnecting.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  articles,
  expectCount,
  message,
  messageTexts,
  newPerson,
  openDirectChat,
  openRoom,
  pageErrors,
  send,
  visible,
  withBrowser,
} from "./lib.mjs";

test("messages sent while offline arrive exactly once, in order", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const ann = await newPerson(browser, "Ann Offline", "ann");
    const bob = await newPerson(browser, "Bob Online", "bob");
    const a = ann.page;
    const b = bob.page;
    await openDirectChat(b, ann);
    await send(b, "before the drop");
    await openRoom(a, bob.displayName);
    await visible(message(a, "before the drop"));

    const status = a.getByRole("status").filter({ hasText: /Offline|Reconnecting/ });
    await a.context().setOffline(true);
    await visible(status);

    const texts = [1, 2, 3, 4, 5].map((i) => `while away #${i}`);
    for (const text of texts) await send(b, text); // each confirmed before the next: a known order
    // Ann writes while cut off: her message waits as "Not sent", with a retry.
    const box = a.getByRole("textbox", { name: "Message" });
    await box.fill("written offline");
    await box.press("Enter");
    const unsent = articles(a, "written offline");
    await visible(unsent.getByText("Not sent"));
    // Ann is really cut off: none of it reached her yet.
    for (const text of texts) await expectCount(articles(a, text), 0, `"${text}" while offline`);

    await a.context().setOffline(false);
    await status.waitFor({ state: "hidden" });
    for (const text of texts) await visible(message(a, text));
    // Retrying keeps the clientId: stored once, shown once on both sides.
    await unsent.getByRole("button", { name: "Retry" }).click();
    await visible(message(a, "written offline"));
    await visible(message(b, "written offline"));
    // A message sent after the reconnection is a barrier: anything replayed twice would be
    // in the log before it.
    await send(b, "after the drop");
    await visible(message(a, "after the drop"));

    for (const text of [...texts, "written offline"]) {
      await expectCount(articles(a, text), 1, `"${text}" after reconnecting`);
      await expectCount(articles(b, text), 1, `"${text}" on the other side`);
    }
    const shown = await messageTexts(a);
    assert.deepEqual(shown, ["before the drop", ...texts, "written offline", "after the drop"]);
    // The sender's view agrees.
    assert.deepEqual(await messageTexts(b), shown);
    assert.deepEqual(pageErrors(a), []);
    assert.deepEqual(pageErrors(b), []);
  }),
);
