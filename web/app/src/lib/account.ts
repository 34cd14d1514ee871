/** Pure rules of the account pages and prompts (kept apart from React for the unit tests). */

export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 128;

/** Where a social sign-in comes back to: the provider's start URL with our callback page. */
export function callbackUrl(origin: string): string {
  return `${origin.replace(/\/$/, "")}/login/callback`;
}

export function socialStartUrl(startUrl: string, origin: string): string {
  const joiner = startUrl.includes("?") ? "&" : "?";
  return `${startUrl}${joiner}redirect_uri=${encodeURIComponent(callbackUrl(origin))}`;
}

/** What `/login/callback` was given: a one-time code, an error from the server, or neither. */
export type Callback = { kind: "code"; code: string } | { kind: "error"; error: string } | { kind: "missing" };

export function parseCallback(params: Readonly<Record<string, string>>): Callback {
  const error = params["error"]?.trim();
  if (error) return { kind: "error", error };
  const code = params["code"]?.trim();
  if (code) return { kind: "code", code };
  return { kind: "missing" };
}

const CALLBACK_ERRORS: Readonly<Record<string, string>> = {
  access_denied: "The sign-in was cancelled at the provider, so you are not signed in.",
  provider_error: "The sign-in provider reported a problem. Please try again.",
  provider_unavailable: "The sign-in provider cannot be reached right now. Please try again later.",
};

export function callbackErrorMessage(error: string): string {
  return CALLBACK_ERRORS[error] ?? "The sign-in did not complete. Please try again.";
}

/** Why a new password cannot be used yet, or null when it can. */
export function newPasswordProblem(password: string, confirm: string): { field: "password" | "confirm"; message: string } | null {
  if (password.length < MIN_PASSWORD) return { field: "password", message: `Use at least ${MIN_PASSWORD} characters.` };
  if (password.length > MAX_PASSWORD) return { field: "password", message: `Use at most ${MAX_PASSWORD} characters.` };
  if (password !== confirm) return { field: "confirm", message: "The two passwords differ." };
  return null;
}

/** A rough check before asking the server, which has the last word. */
export function looksLikeEmail(value: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value.trim());
}

interface AccountFields {
  role: string;
  email: string | null;
  emailVerified: boolean;
  acceptedTermsVersion: string | null;
}

/** A signed-in person (not a guest) whose address still waits for its link. */
export function needsEmailVerification(me: AccountFields | null | undefined): boolean {
  return !!me && me.role !== "GUEST" && !!me.email && !me.emailVerified;
}

/** A signed-in person (not a guest) who has not accepted the server's current terms. */
export function needsTerms(me: AccountFields | null | undefined, termsVersion: string | null | undefined): boolean {
  return !!me && !!termsVersion && me.role !== "GUEST" && me.acceptedTermsVersion !== termsVersion;
}

/**
 * The same single-use operation once per key, however often a view mounts (StrictMode mounts
 * twice in development, and a link's token works only once): later calls share the first
 * call's promise. A failed call is forgotten so that it may be retried.
 */
const running = new Map<string, Promise<unknown>>();

export function once<T>(key: string, run: () => Promise<T>): Promise<T> {
  const known = running.get(key);
  if (known) return known as Promise<T>;
  const promise = run().catch((error: unknown) => {
    running.delete(key);
    throw error;
  });
  running.set(key, promise);
  return promise;
}
