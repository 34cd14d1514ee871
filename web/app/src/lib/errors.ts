/** A message a person can act on, from whatever an operation threw. */
import { CombinedGraphQLErrors } from "@apollo/client";

const BY_CODE: Record<string, string> = {
  UNAUTHENTICATED: "Please sign in again.",
  RATE_LIMITED: "Slow down a little and try again.",
};

export function describeError(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) {
    const first = error.errors[0];
    const code = first?.extensions?.["code"];
    if (typeof code === "string" && code in BY_CODE && code !== "BAD_USER_INPUT") {
      return first?.message && code === "RATE_LIMITED" ? first.message : (BY_CODE[code] ?? "");
    }
    return first?.message ?? "Something went wrong.";
  }
  if (error instanceof Error) {
    return /fetch|network/i.test(error.message) ? "You appear to be offline." : error.message;
  }
  return "Something went wrong.";
}

export function errorCode(error: unknown): string | null {
  if (CombinedGraphQLErrors.is(error)) {
    const code = error.errors[0]?.extensions?.["code"];
    return typeof code === "string" ? code : null;
  }
  return null;
}
