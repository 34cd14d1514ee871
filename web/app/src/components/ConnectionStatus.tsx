import { useSyncExternalStore } from "react";
import { connectionState, onConnectionState } from "../lib/connection";

const LABEL = { offline: "Offline", reconnecting: "Reconnecting…", connecting: "", online: "" } as const;

/** A visible, announced line while the live connection is down. */
export function ConnectionStatus() {
  const state = useSyncExternalStore(onConnectionState, connectionState);
  const label = LABEL[state];
  return (
    <div role="status" className={label ? `connection connection-${state}` : "connection"}>
      {label}
    </div>
  );
}
