/**
 * What the sign-in screen should show the next time it appears: which form (a guest's "Sign up"
 * opens sign-up) and a notice (the account was deleted). Kept here because the screen is
 * mounted only after the session has ended.
 */
export type AuthMode = "sign-in" | "sign-up";

export interface AuthFlash {
  mode: AuthMode;
  notice: string | null;
}

let flash: AuthFlash | null = null;

export function setAuthFlash(next: AuthFlash): void {
  flash = next;
}

/** The flash, without clearing it (a render may run twice); see `clearAuthFlash`. */
export function peekAuthFlash(): AuthFlash | null {
  return flash;
}

export function clearAuthFlash(): void {
  flash = null;
}
