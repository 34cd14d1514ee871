/** A message a person can act on, from whatever an operation threw. */
import { CombinedGraphQLErrors } from "@apollo/client";

const BY_CODE: Record<string, string> = {
  UNAUTHENTICATED: "Please sign in again.",
  RATE_LIMITED: "Slow down a little and try again.",
};

/** FORBIDDEN errors that say why, by `extensions.reason`. */
const BY_REASON: Record<string, string> = {
  GUEST: "Guests can only read. Sign up to take part.",
  NO_PASSWORD: "Your account has no password yet: set one with “Forgot password?” first.",
};

/** The first GraphQL error's code, field, reason and message; nulls for anything else. */
export interface ErrorDetails {
  code: string | null;
  field: string | null;
  reason: string | null;
  message: string | null;
}

export function errorDetails(error: unknown): ErrorDetails {
  if (!CombinedGraphQLErrors.is(error)) return { code: null, field: null, reason: null, message: null };
  const first = error.errors[0];
  const text = (name: string) => {
    const value = first?.extensions?.[name];
    return typeof value === "string" ? value : null;
  };
  return { code: text("code"), field: text("field"), reason: text("reason"), message: first?.message ?? null };
}

export function describeError(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) {
    const { code, reason, message } = errorDetails(error);
    if (code === "FORBIDDEN" && reason && reason in BY_REASON) return BY_REASON[reason] ?? "";
    if (code && code in BY_CODE) {
      return message && code === "RATE_LIMITED" ? message : (BY_CODE[code] ?? "");
    }
    return message ?? "Something went wrong.";
  }
  if (error instanceof Error) {
    return /fetch|network/i.test(error.message) ? "You appear to be offline." : error.message;
  }
  return "Something went wrong.";
}

export function errorCode(error: unknown): string | null {
  return errorDetails(error).code;
}

/** An error placed on a form: next to `field`, or for the form as a whole (field null). */
export interface FormError {
  field: string | null;
  message: string;
}

export interface FormErrorOptions {
  /** The server's argument names (`extensions.field`) that have a field of their own on this
   * form, mapped to that field's name. */
  fields?: Readonly<Record<string, string>>;
  /** Where UNAUTHENTICATED goes when it means "wrong password" (sign-in, re-authentication):
   * a field's name, or "form"; its server message is shown as it is. */
  unauthenticated?: string;
}

/**
 * Where an operation's error belongs on a form: BAD_USER_INPUT and CONFLICT name the argument
 * they are about in `extensions.field`, shown next to that field when the form has it.
 */
export function formError(error: unknown, { fields = {}, unauthenticated }: FormErrorOptions = {}): FormError {
  const { code, field, message } = errorDetails(error);
  if ((code === "BAD_USER_INPUT" || code === "CONFLICT") && message) {
    return { field: field ? (fields[field] ?? null) : null, message };
  }
  if (code === "UNAUTHENTICATED" && unauthenticated && message) {
    return { field: unauthenticated === "form" ? null : unauthenticated, message };
  }
  return { field: null, message: describeError(error) };
}
