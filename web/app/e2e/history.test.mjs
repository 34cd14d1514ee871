// Long history: 5 000 messages, virtualised. The log keeps a bounded number of elements while
// scrolling up through older pages, and "Jump to latest" brings the newest back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BASE_URL, log, newPerson, openRoom, until, visible, withBrowser } from "./lib.mjs";

const TOTAL = 5000;

async function gql(token, query, variables) {
  const response = await fetch(`${BASE_URL}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

test("5 000 messages stay a bounded DOM while paging back", { timeout: 120_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const ann = await newPerson(browser, "Ann Archive", "ann");
    const page = ann.page;
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem("chatql.session")).accessToken);
    const { createChatRoom } = await gql(token, "mutation($i: CreateChatRoomInput!) { createChatRoom(input: $i) { id } }", {
      i: { name: "archive" },
    });
    const send = "mutation($i: CreateMessageInput!) { createMessage(input: $i) { id } }";
    for (let start = 1; start <= TOTAL; start += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, TOTAL - start + 1) }, (_, k) =>
          gql(token, send, { i: { chatRoomId: createChatRoom.id, content: `archived #${start + k}`, clientId: `seed-${start + k}` } }),
        ),
      );
    }

    // The room was made over HTTP, possibly before the page's live feed was up: open the app
    // afresh, as someone coming back to a long conversation would.
    await page.reload();
    await openRoom(page, "archive");
    await visible(log(page).getByText(`archived #${TOTAL}`, { exact: true }));
    const scroller = log(page).locator("[data-virtuoso-scroller]");
    const rendered = () => log(page).locator("article").count();
    let most = await rendered();
    let oldestSeen = TOTAL;
    // Scroll to the top again and again: each time an older page is loaded and prepended (25 a
    // page: the history query's cost has to stay under the server's limit).
    for (let round = 0; round < 40; round++) {
      await scroller.evaluate((s) => s.scrollTo(0, 0));
      const before = oldestSeen;
      await until("an older page", async () => {
        const texts = await log(page).locator("article .text").allTextContents();
        const seqs = texts.map((x) => Number(x.replace("archived #", ""))).filter(Number.isFinite);
        oldestSeen = Math.min(oldestSeen, ...seqs);
        return oldestSeen < before;
      });
      most = Math.max(most, await rendered());
    }
    assert.ok(oldestSeen < TOTAL - 300, `paged back to #${oldestSeen}`);
    assert.ok(most < 80, `at most ${most} messages were in the DOM at once, of ${TOTAL - oldestSeen + 1} loaded`);

    await page.getByRole("button", { name: "Jump to latest ↓" }).click();
    await visible(log(page).getByText(`archived #${TOTAL}`, { exact: true }));
  }),
);
