/**
 * Messages the user sent that the server has not confirmed yet, per room. Each keeps its
 * `clientId`, so a retry after a failure or a lost answer is stored once (the server returns
 * the original message for a known clientId).
 */
export interface PendingMessage {
  clientId: string;
  roomId: string;
  content: string;
  replyToId: string | null;
  /** Files uploaded already; their names show on the pending line. */
  attachments?: { id: string; name: string }[];
  createdAt: string;
  status: "sending" | "failed";
  error?: string;
}

const byRoom = new Map<string, PendingMessage[]>();
const listeners = new Set<() => void>();
const EMPTY: PendingMessage[] = [];

function emit(): void {
  for (const listener of listeners) listener();
}

export function pendingIn(roomId: string): PendingMessage[] {
  return byRoom.get(roomId) ?? EMPTY;
}

export function subscribePending(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function addPending(message: PendingMessage): void {
  byRoom.set(message.roomId, [...pendingIn(message.roomId), message]);
  emit();
}

export function updatePending(roomId: string, clientId: string, change: Partial<PendingMessage>): void {
  byRoom.set(
    roomId,
    pendingIn(roomId).map((m) => (m.clientId === clientId ? { ...m, ...change } : m)),
  );
  emit();
}

/** Confirmed (by the mutation's answer or the live feed, whichever comes first). */
export function confirmPending(roomId: string, clientId: string): void {
  const list = pendingIn(roomId);
  if (!list.some((m) => m.clientId === clientId)) return;
  byRoom.set(
    roomId,
    list.filter((m) => m.clientId !== clientId),
  );
  emit();
}

/** Signed out: nothing of the last user's stays behind. */
export function clearPending(): void {
  byRoom.clear();
  emit();
}
