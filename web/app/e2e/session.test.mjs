// The session: it survives a reload, a second tab shares it, signing out ends it everywhere,
// and signing in again works.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PASSWORD, newPerson, pageErrors, rooms, until, visible, withBrowser } from "./lib.mjs";

test("a session survives a reload and ends with sign out", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const ann = await newPerson(browser, "Ann Session", "ann");
    const page = ann.page;
    await page.reload();
    await visible(rooms(page));

    // An expired access token is refreshed (and the refresh token rotated) on the next call.
    const before = await page.evaluate(() => JSON.parse(localStorage.getItem("chatql.session") ?? "null"));
    await page.evaluate(() => {
      const session = JSON.parse(localStorage.getItem("chatql.session") ?? "null");
      session.expiresAt = Date.now() - 1000;
      localStorage.setItem("chatql.session", JSON.stringify(session));
    });
    await page.reload();
    await visible(rooms(page));
    await until("the refresh token to rotate", async () => {
      const now = await page.evaluate(() => JSON.parse(localStorage.getItem("chatql.session") ?? "null"));
      return now && now.refreshToken !== before.refreshToken && now.expiresAt > Date.now();
    });

    // A second tab of the same browser is signed in too, and follows the sign-out.
    const second = await page.context().newPage();
    await second.goto(page.url());
    await visible(rooms(second));
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await visible(page.getByRole("button", { name: "Sign in", exact: true }));
    await visible(second.getByRole("button", { name: "Sign in", exact: true }));

    // The old refresh token no longer works: reusing it is refused.
    const reuse = await page.evaluate(async (token) => {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }", variables: { t: token } }),
      });
      return response.json();
    }, before.refreshToken);
    assert.ok(reuse.errors?.length, "a rotated-out refresh token must be refused");

    await page.getByRole("textbox", { name: "Username" }).fill(ann.username);
    await page.getByRole("textbox", { name: "Password" }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await visible(rooms(page));
    assert.deepEqual(pageErrors(page), []);
  }),
);
