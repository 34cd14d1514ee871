/**
 * A small router over the History API: `/` and `/rooms/:id` in the app, the live streams
 * (`/streams`, `/streams/:id`, `/studio`, `/studio/:id`), and the account pages
 * that mails and sign-in providers link to (`/verify-email?token=`, `/reset-password?token=`,
 * `/forgot-password`, `/login/callback?code=`), which work signed in or out.
 */
import { useEffect, useState } from "react";

export type AccountPage = "forgot-password" | "reset-password" | "verify-email" | "login-callback";

/** The streams area: browse, watch one, the creator studio and one stream in it. */
export type StreamsView =
  | { kind: "browse" }
  | { kind: "watch"; streamId: string }
  | { kind: "studio"; streamId: string | null };

export interface Route {
  roomId: string | null;
  streams: StreamsView | null;
  /** An account page, shown instead of the app (or the sign-in screen). */
  page: AccountPage | null;
  /** The query string's parameters (the first of each name). */
  params: Readonly<Record<string, string>>;
}

const PAGES: Readonly<Record<string, AccountPage>> = {
  "/forgot-password": "forgot-password",
  "/reset-password": "reset-password",
  "/verify-email": "verify-email",
  "/login/callback": "login-callback",
};

export function parseRoute(path: string, search = ""): Route {
  const params: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(search)) {
    if (!(name in params)) params[name] = value;
  }
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const page = PAGES[trimmed] ?? null;
  const match = /^\/rooms\/([^/]+)\/?$/.exec(path);
  return { roomId: !page && match?.[1] ? decodeURIComponent(match[1]) : null, streams: streamsView(trimmed), page, params };
}

function streamsView(path: string): StreamsView | null {
  if (path === "/streams") return { kind: "browse" };
  if (path === "/studio") return { kind: "studio", streamId: null };
  const match = /^\/(streams|studio)\/([^/]+)$/.exec(path);
  if (!match?.[2]) return null;
  const id = decodeURIComponent(match[2]);
  return match[1] === "streams" ? { kind: "watch", streamId: id } : { kind: "studio", streamId: id };
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Go to `path` (with its query string, if any); `replace` keeps it out of the history, as for
 * a used link's token that must not come back with the Back button. */
export function navigate(path: string, { replace = false }: { replace?: boolean } = {}): void {
  if (path === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, "", path);
  else window.history.pushState(null, "", path);
  listeners.forEach((l) => l());
}

export function roomPath(id: string): string {
  return `/rooms/${encodeURIComponent(id)}`;
}

export function streamPath(id: string): string {
  return `/streams/${encodeURIComponent(id)}`;
}

export function studioPath(id: string | null = null): string {
  return id ? `/studio/${encodeURIComponent(id)}` : "/studio";
}

function current(): Route {
  return parseRoute(window.location.pathname, window.location.search);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return route;
}
