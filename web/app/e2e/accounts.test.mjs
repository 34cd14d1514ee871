// Accounts for a public service, through the UI and the real mail: email verification and
// password reset by the mailed links, the terms of service at sign-up, guests reading a public
// room live, a username change, and deleting an account.
//
// The server (tests/test_web_app.py) runs with a real SMTP server delivering to E2E_MAILDIR,
// CHATQL_PUBLIC_URL pointing at itself, CHATQL_GUEST_ACCESS=on and CHATQL_TERMS_VERSION set.
/* global window, document -- in functions evaluated in the page */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BASE_URL,
  PASSWORD,
  assertAccessible,
  createRoom,
  expectCount,
  fillSignIn,
  fillSignUp,
  gone,
  log,
  message,
  newPerson,
  openApp,
  pageErrors,
  rooms,
  send,
  signOut,
  signUp,
  termsBox,
  uniqueName,
  until,
  visible,
  withBrowser,
} from "./lib.mjs";
import { mailCount, waitForMail, tokenLink } from "./mail.mjs";

const NEW_PASSWORD = "a brand new passphrase";
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };

/** A mailed link, on this test's server (the mail's host is CHATQL_PUBLIC_URL). */
function onServer(link) {
  const url = new URL(link);
  assert.equal(url.origin, new URL(BASE_URL).origin, `the mailed link ${link} points at this server`);
  return url.toString();
}

function banner(page) {
  return page.getByRole("region", { name: "Verify your email" });
}

async function storedSession(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("chatql.session") ?? "null"));
}

test("email verification and a password reset through the mailed links", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const page = await openApp(browser);
    const username = uniqueName("mail");
    const email = `${username}@example.com`;
    await signUp(page, { username, displayName: "Mia Mail", email });

    // Not verified yet: the banner says so, and a new link can be asked for.
    await visible(banner(page).getByText(email));
    await assertAccessible(page, "the rooms list with the verify-email banner");
    await banner(page).getByRole("button", { name: "Resend link" }).click();
    await visible(banner(page).getByRole("status").getByText("A new link is on its way."));
    await until("two verification mails", () => mailCount(email) >= 2);

    // The mailed link, opened in the same (signed-in) browser: verified, and the banner goes.
    const verification = await waitForMail(email, /Confirm your email/);
    await page.goto(onServer(tokenLink(verification)));
    await visible(page.getByRole("status").getByText("Your email address is verified."));
    await page.getByRole("link", { name: "Continue to ChatQL" }).click();
    await visible(rooms(page));
    await expectCount(banner(page), 0, "the verify-email banner");
    assert.equal(new URL(page.url()).pathname, "/");

    // Forgot the password: the same answer whatever the address, and a mail for this one.
    await signOut(page);
    await page.getByRole("link", { name: "Forgot password?" }).click();
    await visible(page.getByRole("heading", { name: "Reset your password" }));
    await page.getByRole("textbox", { name: "Email" }).fill(email);
    await page.getByRole("button", { name: "Send reset link" }).click();
    await visible(page.getByRole("status").getByText(/If that address belongs to an account/));
    await assertAccessible(page, "the forgot-password page");
    const reset = await waitForMail(email, /Reset your password/);
    const resetLink = onServer(tokenLink(reset));

    // A new password from the link: two that differ are caught first; then signed in.
    await page.goto(resetLink);
    await page.getByRole("textbox", { name: "New password", exact: true }).fill(NEW_PASSWORD);
    await page.getByRole("textbox", { name: "Confirm new password" }).fill(`${NEW_PASSWORD}!`);
    await page.getByRole("button", { name: "Set new password" }).click();
    await visible(page.getByRole("alert").getByText("The two passwords differ."));
    await assertAccessible(page, "the reset-password page with an error");
    await page.getByRole("textbox", { name: "Confirm new password" }).fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await visible(rooms(page));
    await visible(page.getByRole("heading", { name: "Welcome, Mia Mail" }));
    assert.equal(new URL(page.url()).pathname, "/", "the spent link is gone from the address bar");
    assert.equal((await storedSession(page))?.user.username, username);

    // The link works once.
    await page.goto(resetLink);
    await page.getByRole("textbox", { name: "New password", exact: true }).fill("yet another password");
    await page.getByRole("textbox", { name: "Confirm new password" }).fill("yet another password");
    await page.getByRole("button", { name: "Set new password" }).click();
    await visible(page.getByRole("alert").getByRole("link", { name: "Ask for a new link" }));
    await page.getByRole("link", { name: "Back to ChatQL" }).click();
    await visible(rooms(page));

    // The old password no longer works; the new one does, with the (verified) address too.
    await signOut(page);
    await fillSignIn(page, username, PASSWORD);
    await visible(page.getByRole("alert").getByText(/Invalid username or password/));
    await fillSignIn(page, email, NEW_PASSWORD);
    await visible(rooms(page));
    assert.deepEqual(pageErrors(page), []);
  }),
);

test("sign-up cannot skip the terms of service", { timeout: 30_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const page = await openApp(browser);
    const username = uniqueName("terms");
    await fillSignUp(page, { username, displayName: "Tess Terms", acceptTerms: false });
    await visible(page.getByRole("alert").getByText("Accept the terms of service to create an account."));
    assert.equal(await termsBox(page).getAttribute("aria-invalid"), "true");
    assert.equal(await storedSession(page), null, "no account without the terms");

    // Nor can anyone skip them by talking to the API directly.
    const refused = await page.evaluate(async (name) => {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: "mutation($u: String!) { register(username: $u, password: \"correct horse battery\") { accessToken } }",
          variables: { u: name },
        }),
      });
      return response.json();
    }, username);
    assert.equal(refused.errors?.[0]?.extensions?.code, "BAD_USER_INPUT", JSON.stringify(refused));
    assert.equal(refused.errors?.[0]?.extensions?.field, "acceptTerms", JSON.stringify(refused));

    await termsBox(page).check();
    await page.getByRole("button", { name: "Create account", exact: true }).click();
    await visible(rooms(page));
  }),
);

test("a guest reads a public room live, on a phone, and cannot write", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const ann = await newPerson(browser, "Ann Host", "ann");
    const roomName = uniqueName("lobby");
    await createRoom(ann.page, { name: roomName, description: "Open to everyone" });
    await send(ann.page, "History before the guest came");

    const page = await openApp(browser, PHONE);
    await page.getByRole("button", { name: "Continue as guest" }).click();
    await visible(page.getByText("You are browsing as a guest"));
    await rooms(page).getByRole("link", { name: roomName, exact: true }).click();
    await visible(page.getByRole("heading", { level: 1, name: roomName, exact: true }));
    await visible(message(page, "History before the guest came"));

    // Read-only: no composer, no actions on messages, no room actions; the note says why.
    await visible(page.getByText("You are reading as a guest"));
    await expectCount(page.getByRole("textbox", { name: "Message" }), 0, "the composer");
    await expectCount(log(page).getByRole("button"), 0, "buttons in the log");
    await expectCount(page.getByRole("button", { name: "Leave" }), 0, "the Leave button");
    await expectCount(page.getByRole("button", { name: /profile$/ }), 0, "the profile button");

    // Live: a new message shows up without a reload.
    await send(ann.page, "Live while the guest reads");
    await visible(message(page, "Live while the guest reads"));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the guest's room is ${overflow} px wider than 360 px`);
    await assertAccessible(page, "a guest's read-only room");

    // "Sign up" ends the guest session and opens the sign-up form.
    await page.getByRole("button", { name: "Sign up", exact: true }).click();
    await visible(page.getByRole("heading", { name: "Create your account" }));
    assert.equal(await storedSession(page), null);
    assert.deepEqual(pageErrors(page), []);
  }),
);

test("a username change in the settings, then deleting the account", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const person = await newPerson(browser, "Dee Parting", "dee");
    const page = person.page;
    const renamed = uniqueName("dee2");

    await page.getByRole("button", { name: "Dee Parting, profile" }).click();
    await page.getByRole("dialog", { name: "Profile" }).getByRole("button", { name: "Account settings" }).click();
    const settings = page.getByRole("dialog", { name: "Account settings" });
    await settings.getByRole("textbox", { name: "Username" }).fill(renamed);
    await settings.getByRole("button", { name: "Change username" }).click();
    await visible(settings.getByRole("status").getByText(`Your username is now @${renamed}`));
    await visible(settings.getByText(`@${person.username} stays reserved for you`));
    await assertAccessible(page, "the account settings");
    assert.equal((await storedSession(page))?.user.username, renamed);

    // A wrong password is an error on the form, not the end of the session.
    await settings.getByRole("textbox", { name: "Password to confirm" }).fill("not my password");
    await settings.getByRole("button", { name: "Delete my account" }).click();
    await visible(settings.getByRole("alert").getByText("The password is wrong"));
    assert.ok(await storedSession(page), "still signed in after a wrong password");

    await settings.getByRole("textbox", { name: "Password to confirm" }).fill(PASSWORD);
    await settings.getByRole("button", { name: "Delete my account" }).click();
    await gone(settings);
    await visible(page.getByRole("status").getByText(/Your account was deleted/));
    assert.equal(await storedSession(page), null);

    // Neither the new name nor the old one signs in any more.
    await fillSignIn(page, renamed, PASSWORD);
    await visible(page.getByRole("alert").getByText(/Invalid username or password/));
    await page.reload(); // a fresh form, so that the next refusal is this attempt's
    await fillSignIn(page, person.username, PASSWORD);
    await visible(page.getByRole("alert").getByText(/Invalid username or password/));
    assert.deepEqual(pageErrors(page), []);
  }),
);

test("a terms prompt for an account that has not accepted the current terms", { timeout: 30_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const person = await newPerson(browser, "Tom Terms", "tom");
    const page = person.page;
    // Every account on this server accepted its terms at sign-up: make the server's answer
    // about this one say otherwise until it accepts them again, through the real mutation.
    let accepted = false;
    await page.route("**/graphql", async (route) => {
      const operation = route.request().postDataJSON()?.operationName;
      if (operation === "AcceptTerms") accepted = true;
      if (operation !== "Me" || accepted) return route.fallback();
      const response = await route.fetch();
      const json = await response.json();
      if (json.data?.me) json.data.me.acceptedTermsVersion = null;
      await route.fulfill({ response, json });
    });
    await page.reload();
    const prompt = page.getByRole("dialog", { name: "Terms of service" });
    await visible(prompt.getByText(/Please read and accept the terms of service/));
    await assertAccessible(page, "the terms prompt");
    await prompt.getByRole("button", { name: "Accept" }).click();
    await gone(prompt);
    assert.ok(accepted, "acceptTerms was called");
    await visible(rooms(page));
    assert.deepEqual(pageErrors(page), []);
  }),
);

test("the sign-in callback page explains a refused or spent sign-in", { timeout: 30_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const page = await openApp(browser);
    await page.goto(`${BASE_URL}/login/callback?error=access_denied`);
    await visible(page.getByRole("alert").getByText(/The sign-in was cancelled/));
    await page.goto(`${BASE_URL}/login/callback?code=not-a-real-code`);
    await visible(page.getByRole("heading", { name: "Sign-in did not complete" }));
    await visible(page.getByRole("alert"));
    await page.getByRole("link", { name: "Back to sign in" }).click();
    await visible(page.getByRole("button", { name: "Sign in", exact: true }));
    assert.equal(new URL(page.url()).pathname, "/");
  }),
);

/**
 * Through the OpenID provider's development forms (tests/oidc/provider.mjs: any login, any
 * password; then consent), as far as they are asked, until back on this server.
 */
async function throughProvider(page, login) {
  const base = new URL(BASE_URL).host;
  await page.waitForURL((url) => url.host !== base || url.pathname === "/login/callback");
  for (let step = 0; step < 4 && new URL(page.url()).host !== base; step++) {
    const field = page.locator('input[name="login"]');
    if ((await field.count()) > 0) {
      await field.fill(login);
      await page.locator('input[name="password"]').fill("any password");
    }
    const before = page.url();
    await Promise.all([
      page.waitForURL((url) => url.href !== before),
      page.locator('button[type="submit"]').first().click(),
    ]);
  }
  await page.waitForURL((url) => url.host === base);
}

test("social sign-in through a real OpenID provider, terms first", { timeout: 60_000 }, (t) =>
  withBrowser(t, async (browser) => {
    const page = await openApp(browser);
    const provider = page.getByRole("link", { name: "Continue with Test ID" });
    if ((await provider.count()) === 0) {
      t.skip("no OpenID provider configured (tests/oidc needs `npm ci`)");
      return;
    }
    const login = `${uniqueName("soc")}@example.com`;
    await provider.click();
    await throughProvider(page, login);

    // A new account: the terms must be accepted before the one-time code signs in.
    await visible(page.getByRole("heading", { name: "Create your account" }));
    await page.getByRole("button", { name: "Create account", exact: true }).click();
    await visible(page.getByRole("alert").getByText("Accept the terms of service to create your account."));
    await page.getByRole("checkbox", { name: /I accept the terms of service/ }).check();
    await page.getByRole("button", { name: "Create account", exact: true }).click();
    await visible(rooms(page));
    assert.equal(new URL(page.url()).pathname, "/");
    const session = await storedSession(page);
    assert.ok(session?.user.username, "signed in as the new account");

    // No password: the settings say how to get one, and deletion waits for it.
    await page.getByRole("button", { name: /, profile$/ }).click();
    await page.getByRole("dialog", { name: "Profile" }).getByRole("button", { name: "Account settings" }).click();
    const settings = page.getByRole("dialog", { name: "Account settings" });
    await visible(settings.getByText(login));
    await visible(settings.getByText("Verified", { exact: true }));
    await visible(settings.getByText(/Your account has no password yet/));
    await visible(settings.getByText(/first set a password/));
    await expectCount(settings.getByRole("button", { name: "Delete my account" }), 0, "the delete button");
    await settings.getByRole("button", { name: "Close" }).click();
    await gone(settings);

    // Back again later: the same account, with no terms to accept this time.
    await signOut(page);
    await page.getByRole("link", { name: "Continue with Test ID" }).click();
    await throughProvider(page, login);
    await visible(rooms(page));
    assert.equal((await storedSession(page))?.user.id, session.user.id);
    assert.deepEqual(pageErrors(page), []);
  }),
);
