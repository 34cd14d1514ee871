/** A two-route router over the History API: `/` and `/rooms/:id`. */
import { useEffect, useState } from "react";

export interface Route {
  roomId: string | null;
}

function parse(path: string): Route {
  const match = /^\/rooms\/([^/]+)\/?$/.exec(path);
  return { roomId: match?.[1] ? decodeURIComponent(match[1]) : null };
}

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

export function navigate(path: string): void {
  if (path === window.location.pathname) return;
  window.history.pushState(null, "", path);
  listeners.forEach((l) => l());
}

export function roomPath(id: string): string {
  return `/rooms/${encodeURIComponent(id)}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.pathname));
  useEffect(() => {
    const update = () => setRoute(parse(window.location.pathname));
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return route;
}
