/**
 * What the user sees of the network: online, offline, or reconnecting. Fed by the WebSocket
 * client's events and the browser's online/offline events.
 */
export type ConnectionState = "connecting" | "online" | "reconnecting" | "offline";

type Listener = (state: ConnectionState) => void;
const listeners = new Set<Listener>();
let state: ConnectionState = "connecting";
let epoch = 0;
const epochListeners = new Set<(epoch: number) => void>();

export function connectionState(): ConnectionState {
  return state;
}

export function setConnectionState(next: ConnectionState): void {
  if (next === state) return;
  state = next;
  for (const listener of listeners) listener(state);
}

export function onConnectionState(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Bumped on every reconnection (not the first connection): resume points restart from here. */
export function connectionEpoch(): number {
  return epoch;
}

export function bumpEpoch(): void {
  epoch += 1;
  for (const listener of epochListeners) listener(epoch);
}

export function onEpoch(listener: (epoch: number) => void): () => void {
  epochListeners.add(listener);
  return () => epochListeners.delete(listener);
}
