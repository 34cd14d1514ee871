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

/**
 * Bumped whenever an open socket closes. Live subscriptions restart on it, so that what they
 * send when the socket is back carries the latest resume cursor (graphql-ws would otherwise
 * resend the payload of the first subscribe, with a stale `after`).
 */
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

const reconnectListeners = new Set<() => void>();

/** The socket is back after a drop: views refetch what may have changed meanwhile. */
export function announceReconnect(): void {
  for (const listener of reconnectListeners) listener();
}

export function onReconnect(listener: () => void): () => void {
  reconnectListeners.add(listener);
  return () => reconnectListeners.delete(listener);
}
