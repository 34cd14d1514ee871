// Two people in two browser contexts: a direct chat both ways, then a group room, with edits,
// deletions, reactions and typing showing up live on the other side.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  articles,
  createRoom,
  expectAttribute,
  expectCount,
  gone,
  log,
  message,
  messageAction,
  newPerson,
  openDirectChat,
  openRoom,
  pageErrors,
  roomLink,
  send,
  uniqueName,
  visible,
  withBrowser,
} from "./lib.mjs";

test("two people chat directly and in a group room, live", { timeout: 90_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const ann = await newPerson(browser, "Ann Example", "ann");
    const bob = await newPerson(browser, "Bob Example", "bob");
    const a = ann.page;
    const b = bob.page;

    // Direct chat: Ann finds Bob by search and writes first.
    await openDirectChat(a, bob);
    await send(a, "Hi Bob, it's Ann");
    // Bob sees the direct chat appear in his rooms, named after Ann, and opens it.
    await openRoom(b, ann.displayName);
    await visible(message(b, "Hi Bob, it's Ann"));
    await visible(message(b, "Hi Bob, it's Ann").getByText(ann.displayName, { exact: true }));
    await send(b, "Hello Ann!");
    await visible(message(a, "Hello Ann!"));
    // Shift+Enter breaks the line instead of sending.
    const box = a.getByRole("textbox", { name: "Message" });
    await box.fill("first line");
    await box.press("Shift+Enter");
    await box.pressSequentially("second line");
    assert.equal(await box.inputValue(), "first line\nsecond line");
    await expectCount(articles(b, "first line"), 0, "a message sent by Shift+Enter");
    await box.press("Enter");
    await visible(message(b, "second line"));
    // Search also works the other way round, and lands in the same room.
    await b.getByRole("link", { name: "ChatQL" }).click();
    await openDirectChat(b, ann);
    await visible(message(b, "Hello Ann!"));
    await expectCount(roomLink(b, ann.displayName), 1, "one direct chat with Ann");

    // A group room: Ann creates it and invites Bob, who sees it appear and opens it.
    const roomName = uniqueName("team");
    await createRoom(a, { name: roomName, description: "End-to-end test room", invitees: [bob] });
    await visible(roomLink(b, roomName));
    await openRoom(b, roomName);
    await send(a, "Welcome to the room");
    await visible(message(b, "Welcome to the room"));
    await send(b, "Thanks for the invite");
    await visible(message(a, "Thanks for the invite"));

    // Typing: Bob starts writing, Ann sees it; sending ends it.
    await b.getByRole("textbox", { name: "Message" }).pressSequentially("I am typ");
    await visible(a.getByText(`${bob.displayName} is typing…`, { exact: true }));
    await b.getByRole("textbox", { name: "Message" }).fill("I am typing this");
    await b.getByRole("textbox", { name: "Message" }).press("Enter");
    await visible(message(a, "I am typing this"));
    await gone(a.getByText(`${bob.displayName} is typing…`, { exact: true }));

    // Edit: Ann fixes her message; Bob sees the new text, marked edited.
    await send(a, "A mesage with a typo");
    await visible(message(b, "A mesage with a typo"));
    await (await messageAction(a, "A mesage with a typo", "Edit message")).click();
    const editor = a.getByRole("textbox", { name: "Edit message" });
    await editor.fill("A message without a typo");
    await editor.press("Enter");
    await gone(editor);
    await visible(message(b, "A message without a typo"));
    await visible(message(b, "A message without a typo").getByText("(edited)"));
    await expectCount(articles(b, "A mesage with a typo"), 0, "the old text");

    // Reaction: Bob reacts to Ann's message; both see the chip, pressed only for Bob.
    await (await messageAction(b, "Welcome to the room", "React")).click();
    await message(b, "Welcome to the room").getByRole("button", { name: "React 👍", exact: true }).click();
    const bobChip = message(b, "Welcome to the room").getByRole("button", { name: "👍 1", exact: true });
    const annChip = message(a, "Welcome to the room").getByRole("button", { name: "👍 1", exact: true });
    await expectAttribute(await visible(bobChip), "aria-pressed", "true");
    await expectAttribute(await visible(annChip), "aria-pressed", "false");
    // Ann adds hers: two on both sides; Bob takes his back: one, Ann's.
    await annChip.click();
    const annTwo = message(a, "Welcome to the room").getByRole("button", { name: "👍 2", exact: true });
    const bobTwo = message(b, "Welcome to the room").getByRole("button", { name: "👍 2", exact: true });
    await expectAttribute(await visible(annTwo), "aria-pressed", "true");
    await expectAttribute(await visible(bobTwo), "aria-pressed", "true");
    await bobTwo.click();
    await expectAttribute(await visible(bobChip), "aria-pressed", "false");
    await expectAttribute(await visible(annChip), "aria-pressed", "true");
    // ... and gives it again: the same reaction, added a second time, counts again.
    await bobChip.click();
    await expectAttribute(await visible(bobTwo), "aria-pressed", "true");
    await expectAttribute(await visible(annTwo), "aria-pressed", "true");

    // Thread: Ann replies to Bob's message; both see one reply, and Bob reads it in the panel.
    await (await messageAction(a, "I am typing this", "Reply in thread")).click();
    const annThread = a.getByRole("complementary", { name: "Thread" });
    await annThread.getByRole("textbox", { name: "Reply" }).fill("A reply in the thread");
    await annThread.getByRole("textbox", { name: "Reply" }).press("Enter");
    await visible(annThread.getByRole("log", { name: "Replies" }).getByText("A reply in the thread"));
    await visible(message(a, "I am typing this").getByRole("button", { name: "1 reply", exact: true }));
    await visible(message(b, "I am typing this").getByRole("button", { name: "1 reply", exact: true }));
    await expectCount(articles(b, "A reply in the thread"), 0, "a reply in the main log");
    await message(b, "I am typing this").getByRole("button", { name: "1 reply", exact: true }).click();
    const bobThread = b.getByRole("complementary", { name: "Thread" });
    await visible(bobThread.getByText("A reply in the thread"));
    await bobThread.getByRole("textbox", { name: "Reply" }).fill("Bob answers in the thread");
    await bobThread.getByRole("textbox", { name: "Reply" }).press("Enter");
    await visible(annThread.getByText("Bob answers in the thread"));
    await visible(message(a, "I am typing this").getByRole("button", { name: "2 replies", exact: true }));
    await visible(message(b, "I am typing this").getByRole("button", { name: "2 replies", exact: true }));
    await bobThread.getByRole("button", { name: "Close thread" }).click();

    // Delete: Bob deletes his message; both see the tombstone instead of the text.
    await (await messageAction(b, "Thanks for the invite", "Delete message")).click();
    await message(b, "Thanks for the invite").getByRole("button", { name: "Confirm delete" }).click();
    await expectCount(articles(a, "Thanks for the invite"), 0, "the deleted text");
    await expectCount(articles(b, "Thanks for the invite"), 0, "the deleted text");
    await visible(log(a).getByText("This message was deleted.", { exact: true }));
    await visible(log(b).getByText("This message was deleted.", { exact: true }));

    // Nothing above threw in the pages.
    assert.deepEqual(pageErrors(a), []);
    assert.deepEqual(pageErrors(b), []);
  }),
);
