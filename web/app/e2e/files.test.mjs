// Files: Ann attaches a picture and a text file (a refused type and a cancelled upload on the
// way), sends them; Bob sees a thumbnail and a file card, opens the picture in the viewer and
// downloads the file. Files dropped or pasted are attached too, and to thread replies. Ann sets a
// profile picture, and Bob sees it on her messages.
/* global document, DataTransfer, ClipboardEvent, DragEvent -- in functions evaluated in the page */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertAccessible,
  BASE_URL,
  createRoom,
  expectCount,
  gone,
  loadedImage,
  log,
  message,
  messageAction,
  newPerson,
  openRoom,
  pageErrors,
  send,
  uniqueName,
  until,
  visible,
  withBrowser,
} from "./lib.mjs";

// 48×32 and 24×24 PNGs, small enough to keep here.
const PICTURE = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAAN0lEQVR42u3OMQ0AMAgAMERwTzE3OpEwF4SjSQU0pt4pISQkJCQkJCS0HMquU4SEhISEhISEln1LFHB52a9SVAAAAABJRU5ErkJggg==",
  "base64",
);
const FACE = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAIAAABvFaqvAAAALElEQVR42mP4hQHkok6gIWLUMIwaREeDyNOGqWbUIHoaNJqyR/PaqEF0MQgATfGz/faNtSMAAAAASUVORK5CYII=",
  "base64",
);
const NOTES = "Minutes of the meeting\nEverything went well.\n";

/** The hidden file input of the room's composer (behind the "Attach files" button). */
function roomFileInput(page) {
  return page.locator("section.room-main form.composer input[type=file]");
}

function tray(page) {
  return page.getByRole("list", { name: "Files to send" });
}

/** Files dropped on an element, or pasted into it, as a browser would deliver them. */
async function deliverFiles(locator, kind, files) {
  await locator.evaluate(
    (element, { kind, files }) => {
      const data = new DataTransfer();
      for (const f of files) data.items.add(new File([f.text], f.name, { type: f.type }));
      const event =
        kind === "paste"
          ? new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true })
          : new DragEvent(kind, { dataTransfer: data, bubbles: true, cancelable: true });
      element.dispatchEvent(event);
    },
    { kind, files },
  );
}

test("files and pictures go with messages; a profile picture shows on messages", { timeout: 120_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const ann = await newPerson(browser, "Ann Files", "ann");
    const bob = await newPerson(browser, "Bob Files", "bob");
    const a = ann.page;
    const b = bob.page;
    const roomName = uniqueName("files");
    await createRoom(a, { name: roomName, invitees: [bob] });
    await openRoom(b, roomName);

    // Hold the uploads' bytes back for a moment: progress and cancelling can be seen.
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await a.route("**/files/uploads/**", async (route) => {
      await held;
      await route.continue().catch(() => undefined); // a cancelled one is gone already
    });
    const [chooser] = await Promise.all([
      a.waitForEvent("filechooser"),
      a.getByRole("button", { name: "Attach files", exact: true }).click(),
    ]);
    assert.equal(chooser.isMultiple(), true);
    await chooser.setFiles([
      { name: "sunset.png", mimeType: "image/png", buffer: PICTURE },
      { name: "minutes.txt", mimeType: "text/plain", buffer: Buffer.from(NOTES) },
      { name: "never-mind.txt", mimeType: "text/plain", buffer: Buffer.from("not this one") },
    ]);
    await visible(tray(a).getByRole("progressbar", { name: "sunset.png" }));
    await visible(tray(a).getByRole("progressbar", { name: "minutes.txt" }));
    const sendButton = a.getByRole("button", { name: "Send", exact: true });
    assert.equal(await sendButton.isDisabled(), true, "Send waits for the uploads");
    await a.getByRole("button", { name: "Cancel upload of never-mind.txt", exact: true }).click();
    await gone(tray(a).getByText("never-mind.txt"));
    release();
    await a.unroute("**/files/uploads/**");
    await visible(a.getByRole("button", { name: "Remove sunset.png", exact: true }));
    await visible(a.getByRole("button", { name: "Remove minutes.txt", exact: true }));
    await expectCount(tray(a).getByRole("progressbar"), 0, "progress bars");

    // A type the server does not take: its message, and the file can be removed.
    const exe = Buffer.from([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0]);
    await roomFileInput(a).setInputFiles([{ name: "tool.exe", mimeType: "application/octet-stream", buffer: exe }]);
    await visible(tray(a).getByRole("alert").filter({ hasText: /not allowed/ }));
    await a.getByRole("button", { name: "Remove tool.exe", exact: true }).click();
    await gone(tray(a).getByText("tool.exe"));

    const box = a.getByRole("textbox", { name: "Message" });
    await box.fill("Here are the minutes and a picture");
    await box.press("Enter");
    await visible(message(a, "Here are the minutes and a picture"));
    await gone(tray(a));

    // Bob: the picture as a thumbnail, the text file as a card.
    const bobsCopy = message(b, "Here are the minutes and a picture");
    await visible(bobsCopy);
    const thumb = bobsCopy.locator('img[alt="sunset.png"]');
    await loadedImage(thumb);
    assert.deepEqual(
      await thumb.evaluate((img) => [img.getAttribute("width"), img.getAttribute("height"), img.loading]),
      ["48", "32", "lazy"],
    );
    await visible(bobsCopy.locator(".file-card .file-name", { hasText: "minutes.txt" }));
    const download = bobsCopy.getByRole("link", { name: "Download minutes.txt", exact: true });
    await visible(download);

    // The viewer: the full picture, its name and a download; Escape closes and focus returns.
    await bobsCopy.getByRole("button", { name: "Open sunset.png", exact: true }).click();
    const viewer = b.getByRole("dialog", { name: "sunset.png" });
    await visible(viewer);
    await loadedImage(viewer.locator('img[alt="sunset.png"]'));
    await visible(viewer.getByRole("link", { name: "Download sunset.png", exact: true }));
    await assertAccessible(b, "the image viewer");
    await b.keyboard.press("Escape");
    await gone(viewer);
    assert.equal(await b.evaluate(() => document.activeElement?.querySelector("img")?.alt), "sunset.png");
    // ... and a click on the backdrop closes it too.
    await bobsCopy.getByRole("button", { name: "Open sunset.png", exact: true }).click();
    await visible(viewer);
    await b.mouse.click(5, 5);
    await gone(viewer);

    // The download link answers with the file.
    const href = await download.getAttribute("href");
    const response = await fetch(`${BASE_URL}${href}`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), NOTES);
    const fromPage = await b.evaluate(async (url) => (await fetch(url)).status, href);
    assert.equal(fromPage, 200);

    // Dropped on the room, pasted into the composer: attached; a message of files only.
    await deliverFiles(a.locator("section.room-main"), "drop", [{ name: "dropped.txt", type: "text/plain", text: "dropped" }]);
    await deliverFiles(box, "paste", [{ name: "pasted.txt", type: "text/plain", text: "pasted" }]);
    await visible(a.getByRole("button", { name: "Remove dropped.txt", exact: true }));
    await visible(a.getByRole("button", { name: "Remove pasted.txt", exact: true }));
    await sendButton.click();
    const filesOnly = log(b).locator("article[data-seq]", { hasText: "dropped.txt" });
    await visible(filesOnly);
    await visible(filesOnly.locator(".file-card .file-name", { hasText: "pasted.txt" }));

    // Ann's profile picture.
    await a.getByRole("button", { name: `${ann.displayName}, profile`, exact: true }).click();
    const profile = a.getByRole("dialog", { name: "Profile" });
    await visible(profile);
    await profile.locator("input[type=file]").setInputFiles([{ name: "face.png", mimeType: "image/png", buffer: FACE }]);
    await visible(profile.getByText("ready", { exact: false }));
    await assertAccessible(a, "the profile dialog");
    await profile.getByRole("button", { name: "Save", exact: true }).click();
    await gone(profile);
    await loadedImage(a.locator("button.me .avatar img"));
    assert.match(await a.locator("button.me .avatar img").getAttribute("src"), /^\/files\/[0-9a-f]{32}\/avatar$/);

    // Bob sees it with her next message, and on her earlier ones.
    await send(a, "Now with a face");
    await loadedImage(message(b, "Now with a face").locator(".avatar img"));
    await loadedImage(message(b, "Here are the minutes and a picture").locator(".avatar img"));

    // A reply in a thread may carry files too, and no text.
    await (await messageAction(b, "Now with a face", "Reply in thread")).click();
    const thread = b.getByRole("complementary", { name: "Thread" });
    await thread.locator("input[type=file]").setInputFiles([{ name: "reply.txt", mimeType: "text/plain", buffer: Buffer.from("a reply") }]);
    await visible(thread.getByRole("button", { name: "Remove reply.txt", exact: true }));
    await thread.getByRole("textbox", { name: "Reply" }).press("Enter");
    await visible(thread.getByRole("log", { name: "Replies" }).getByRole("link", { name: "Download reply.txt", exact: true }));
    await visible(message(a, "Now with a face").getByRole("button", { name: "1 reply", exact: true }));
    await thread.getByRole("button", { name: "Close thread" }).click();

    // Deleting the message takes its files with it.
    await (await messageAction(a, "Here are the minutes and a picture", "Delete message")).click();
    await a.getByRole("button", { name: "Confirm delete" }).click();
    await expectCount(log(b).locator('img[alt="sunset.png"]'), 0, "the deleted message's picture");
    await until("the file to be gone", async () => (await fetch(`${BASE_URL}${href}`)).status === 404);

    assert.deepEqual(pageErrors(a), []);
    assert.deepEqual(pageErrors(b), []);
  }),
);
