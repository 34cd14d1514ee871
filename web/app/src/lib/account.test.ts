import { CombinedGraphQLErrors } from "@apollo/client";
import type { GraphQLFormattedError } from "graphql";
import { describe, expect, it } from "vitest";
import {
  callbackErrorMessage,
  needsEmailVerification,
  needsTerms,
  newPasswordProblem,
  once,
  parseCallback,
  socialStartUrl,
} from "./account";
import { describeError, errorDetails, formError } from "./errors";
import { parseRoute } from "./router";

function graphqlError(extensions: Record<string, unknown>, message = "Nope"): CombinedGraphQLErrors {
  const error: GraphQLFormattedError = { message, extensions };
  return new CombinedGraphQLErrors({ data: null, errors: [error] });
}

describe("parseRoute", () => {
  it("finds rooms and the account pages with their query parameters", () => {
    expect(parseRoute("/")).toEqual({ roomId: null, streams: null, page: null, params: {} });
    expect(parseRoute("/rooms/a%20b")).toMatchObject({ roomId: "a b", page: null });
    expect(parseRoute("/verify-email", "?token=abc%3D&token=second")).toEqual({
      roomId: null,
      streams: null,
      page: "verify-email",
      params: { token: "abc=" },
    });
    expect(parseRoute("/reset-password/", "?token=t").page).toBe("reset-password");
    expect(parseRoute("/forgot-password").page).toBe("forgot-password");
    expect(parseRoute("/login/callback", "?code=xyz").params).toEqual({ code: "xyz" });
    expect(parseRoute("/login").page).toBeNull();
  });
});

describe("the social sign-in callback", () => {
  it("reads a code, an error (which wins), or neither", () => {
    expect(parseCallback({ code: " c1 " })).toEqual({ kind: "code", code: "c1" });
    expect(parseCallback({ code: "c1", error: "access_denied" })).toEqual({ kind: "error", error: "access_denied" });
    expect(parseCallback({})).toEqual({ kind: "missing" });
    expect(parseCallback({ code: "" })).toEqual({ kind: "missing" });
  });

  it("explains the server's error codes, and unknown ones generically", () => {
    expect(callbackErrorMessage("access_denied")).toMatch(/cancelled/);
    expect(callbackErrorMessage("provider_unavailable")).toMatch(/cannot be reached/);
    expect(callbackErrorMessage("provider_error")).toMatch(/problem/);
    expect(callbackErrorMessage("<script>")).toBe("The sign-in did not complete. Please try again.");
  });

  it("sends the provider back to our callback page", () => {
    expect(socialStartUrl("/auth/oidc/test/start", "http://127.0.0.1:8000")).toBe(
      "/auth/oidc/test/start?redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Flogin%2Fcallback",
    );
    expect(socialStartUrl("https://x.example/start?a=1", "https://chat.example/")).toBe(
      "https://x.example/start?a=1&redirect_uri=https%3A%2F%2Fchat.example%2Flogin%2Fcallback",
    );
  });
});

describe("errors on forms", () => {
  it("puts input errors next to the field they name, renamed for the form", () => {
    const taken = graphqlError({ code: "CONFLICT", field: "username" }, "That username is taken");
    expect(formError(taken, { fields: { username: "username" } })).toEqual({ field: "username", message: "That username is taken" });
    const terms = graphqlError({ code: "BAD_USER_INPUT", field: "acceptTerms" }, "Accept the terms");
    expect(formError(terms, { fields: { acceptTerms: "terms" } })).toEqual({ field: "terms", message: "Accept the terms" });
    // A field the form does not show: the form's own error, with the server's words.
    expect(formError(terms)).toEqual({ field: null, message: "Accept the terms" });
  });

  it("treats UNAUTHENTICATED as a wrong password only where the form says so", () => {
    const wrong = graphqlError({ code: "UNAUTHENTICATED" }, "The password is wrong");
    expect(formError(wrong, { unauthenticated: "password" })).toEqual({ field: "password", message: "The password is wrong" });
    expect(formError(wrong, { unauthenticated: "form" })).toEqual({ field: null, message: "The password is wrong" });
    expect(formError(wrong)).toEqual({ field: null, message: "Please sign in again." });
  });

  it("says why something is forbidden, by reason", () => {
    expect(describeError(graphqlError({ code: "FORBIDDEN", reason: "GUEST" }))).toMatch(/Guests can only read/);
    expect(describeError(graphqlError({ code: "FORBIDDEN", reason: "NO_PASSWORD" }))).toMatch(/no password/);
    expect(describeError(graphqlError({ code: "FORBIDDEN" }, "Not yours"))).toBe("Not yours");
    expect(errorDetails(new Error("x"))).toEqual({ code: null, field: null, reason: null, message: null });
  });
});

describe("account rules", () => {
  const me = { role: "USER", email: "a@example.com", emailVerified: false, acceptedTermsVersion: "2026-01" };

  it("asks to verify an unverified address, never a guest", () => {
    expect(needsEmailVerification(me)).toBe(true);
    expect(needsEmailVerification({ ...me, emailVerified: true })).toBe(false);
    expect(needsEmailVerification({ ...me, email: null })).toBe(false);
    expect(needsEmailVerification({ ...me, role: "GUEST" })).toBe(false);
    expect(needsEmailVerification(null)).toBe(false);
  });

  it("asks to accept terms that differ from the accepted version", () => {
    expect(needsTerms(me, "2026-12")).toBe(true);
    expect(needsTerms(me, "2026-01")).toBe(false);
    expect(needsTerms({ ...me, acceptedTermsVersion: null }, "2026-12")).toBe(true);
    expect(needsTerms(me, null)).toBe(false);
    expect(needsTerms({ ...me, role: "GUEST" }, "2026-12")).toBe(false);
  });

  it("checks a new password and its confirmation", () => {
    expect(newPasswordProblem("short", "short")).toMatchObject({ field: "password" });
    expect(newPasswordProblem("long enough", "long enougH")).toMatchObject({ field: "confirm" });
    expect(newPasswordProblem("x".repeat(129), "x".repeat(129))).toMatchObject({ field: "password" });
    expect(newPasswordProblem("long enough", "long enough")).toBeNull();
  });
});

describe("once", () => {
  it("runs a single-use operation once per key, and again after a failure", async () => {
    let calls = 0;
    const work = () => {
      calls += 1;
      return Promise.resolve(calls);
    };
    const [a, b] = await Promise.all([once("k", work), once("k", work)]);
    expect([a, b, calls]).toEqual([1, 1, 1]);
    const failing = () => {
      calls += 1;
      return Promise.reject(new Error("spent"));
    };
    await expect(once("f", failing)).rejects.toThrow("spent");
    await expect(once("f", failing)).rejects.toThrow("spent");
    expect(calls).toBe(3);
  });
});
