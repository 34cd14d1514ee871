// axe-core on the main screens: no serious or critical violation.
import { test } from "node:test";
import { assertAccessible, createRoom, message, newPerson, openApp, send, uniqueName, visible, withBrowser } from "./lib.mjs";

test("the sign-in page, the rooms list and a room have no serious axe violations", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const signIn = await openApp(browser);
    await assertAccessible(signIn, "the sign-in page");
    await signIn.getByRole("button", { name: "Create account", exact: true }).click();
    await visible(signIn.getByRole("textbox", { name: "Display name" }));
    await assertAccessible(signIn, "the sign-up form");

    const ann = await newPerson(browser, "Ann Access", "ann");
    const a = ann.page;
    await visible(a.getByRole("heading", { name: `Welcome, ${ann.displayName}` }));
    await assertAccessible(a, "the rooms list (nothing open)");

    const bob = await newPerson(browser, "Bob Access", "bob");
    await createRoom(a, { name: uniqueName("a11y"), description: "Checked by axe", invitees: [bob] });
    await send(a, "Hello, this room is checked by axe");
    await send(a, `Welcome @${bob.username}, glad you are here`);
    await assertAccessible(a, "a room with messages");
    // The same room with a message's actions and the reaction picker open.
    await message(a, "Hello, this room").hover();
    await message(a, "Hello, this room").getByRole("button", { name: "React", exact: true }).click();
    await visible(message(a, "Hello, this room").getByRole("group", { name: "Pick a reaction" }));
    await assertAccessible(a, "a room with the reaction picker open");
  }),
);
