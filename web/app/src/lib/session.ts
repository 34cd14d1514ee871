/**
 * The signed-in session: tokens kept in localStorage so a reload stays signed in.
 *
 * Refresh tokens rotate on every use and a reused one revokes the whole family, so two tabs must
 * never refresh with the same token: refreshes are serialised across tabs with the Web Locks API,
 * and a tab that finds a newer token already stored (another tab refreshed) uses that instead.
 */
import { RefreshSessionDocument, type User } from "../gql/graphql";
import { print } from "graphql";

export type SessionUser = Pick<User, "id" | "username" | "displayName" | "avatarUrl" | "role">;

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds when the access token expires. */
  expiresAt: number;
  user: SessionUser;
}

const KEY = "chatql.session";
/** Refresh this long before the access token expires. */
const EARLY_MS = 30_000;

type Listener = (session: Session | null) => void;
const listeners = new Set<Listener>();
let current: Session | null = load();
let inFlight: Promise<Session | null> | null = null;

function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (
      typeof parsed.accessToken === "string" &&
      typeof parsed.refreshToken === "string" &&
      typeof parsed.expiresAt === "number" &&
      parsed.user
    ) {
      return parsed as Session;
    }
  } catch {
    /* a corrupt entry is the same as none */
  }
  return null;
}

function emit(): void {
  for (const listener of listeners) listener(current);
}

export function getSession(): Session | null {
  return current;
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export interface AuthPayloadLike {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  user: SessionUser;
}

export function fromPayload(payload: AuthPayloadLike): Session {
  return {
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    expiresAt: Date.parse(payload.expiresAt),
    user: {
      id: payload.user.id,
      username: payload.user.username,
      displayName: payload.user.displayName,
      avatarUrl: payload.user.avatarUrl,
      role: payload.user.role,
    },
  };
}

export function setSession(session: Session | null): void {
  const changedUser = (current?.user.id ?? null) !== (session?.user.id ?? null);
  current = session;
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
  if (changedUser || session === null) emit();
}

/** The same person with a new name or picture (their profile saved): shown everywhere. */
export function updateSessionUser(user: SessionUser): void {
  if (!current || current.user.id !== user.id) return;
  const { id, username, displayName, avatarUrl, role } = user;
  current = { ...current, user: { id, username, displayName, avatarUrl, role } };
  localStorage.setItem(KEY, JSON.stringify(current));
  emit();
}

/** Another tab signed in, refreshed, signed out or saved the profile: follow it. */
window.addEventListener("storage", (event) => {
  if (event.key !== KEY) return;
  const next = load();
  const changed = JSON.stringify(current?.user ?? null) !== JSON.stringify(next?.user ?? null);
  current = next;
  if (changed) emit();
});

export function isFresh(session: Session, now = Date.now()): boolean {
  return session.expiresAt - EARLY_MS > now;
}

/** A valid access token, refreshing first when it is about to expire; null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (inFlight) await inFlight.catch(() => undefined); // the token being replaced is spent
  const session = current;
  if (!session) return null;
  if (isFresh(session)) return session.accessToken;
  const refreshed = await refresh();
  return refreshed?.accessToken ?? null;
}

/** Rotate the refresh token once, however many callers ask at the same time. */
export function refresh(): Promise<Session | null> {
  if (!inFlight) {
    inFlight = withLock(doRefresh).finally(() => {
      inFlight = null;
    });
  }
  return inFlight;
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && navigator.locks) {
    return navigator.locks.request("chatql.refresh", work);
  }
  return withLease(work);
}

const LEASE_KEY = "chatql.refresh-lease";
const LEASE_MS = 10_000;

/**
 * Without Web Locks (older browsers, some embedded views): a lease in localStorage. A tab takes
 * it when it is free or stale, checks after a moment that it still holds it (two tabs writing
 * at once: the later write wins), and gives it back when done.
 */
async function withLease<T>(work: () => Promise<T>): Promise<T> {
  const me = Math.random().toString(36).slice(2);
  for (let tries = 0; tries < 100; tries++) {
    const [holder, until] = (localStorage.getItem(LEASE_KEY) ?? "").split("@");
    if (!holder || Number(until) < Date.now()) {
      localStorage.setItem(LEASE_KEY, `${me}@${Date.now() + LEASE_MS}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (localStorage.getItem(LEASE_KEY)?.startsWith(`${me}@`)) {
        try {
          return await work();
        } finally {
          if (localStorage.getItem(LEASE_KEY)?.startsWith(`${me}@`)) localStorage.removeItem(LEASE_KEY);
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
  }
  return work(); // a lease that never frees (a stuck tab): better one stray refresh than none
}

export class SessionEnded extends Error {}

async function doRefresh(): Promise<Session | null> {
  const stored = load();
  const mine = current;
  if (!stored) {
    setSession(null);
    return null;
  }
  // Another tab rotated the token while we waited for the lock.
  if (mine && stored.refreshToken !== mine.refreshToken && isFresh(stored)) {
    current = stored;
    return stored;
  }
  if (isFresh(stored) && mine && stored.accessToken !== mine.accessToken) {
    current = stored;
    return stored;
  }
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({
        query: print(RefreshSessionDocument),
        operationName: "RefreshSession",
        variables: { refreshToken: stored.refreshToken },
      }),
    });
  } catch {
    return stored; // offline: keep the session, try again later
  }
  let body: { data?: { refreshToken?: AuthPayloadLike } | null; errors?: { extensions?: { code?: string } }[] };
  try {
    body = await response.json();
  } catch {
    return stored;
  }
  const payload = body.data?.refreshToken;
  if (payload) {
    const session = fromPayload(payload);
    setSession(session);
    return session;
  }
  const code = body.errors?.[0]?.extensions?.code;
  if (code === "RATE_LIMITED" || response.status >= 500) return stored;
  // Expired, revoked or reused: the session is over.
  setSession(null);
  return null;
}
