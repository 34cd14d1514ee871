/**
 * A subscription that stays alive for as long as the view wants it.
 *
 * Apollo Client hands a server error to `next` and then ends the subscription, and the server
 * ends one of its own accord when a consumer falls too far behind (TOO_SLOW). Either way a chat
 * view would go silently deaf, so this hook subscribes again, with backoff. It also subscribes
 * again after every socket drop (the connection epoch), reading `latest()` at that moment so
 * that a resume cursor is current. Errors that retrying cannot fix end it for good.
 */
import type { OperationVariables, TypedDocumentNode } from "@apollo/client";
import { CombinedGraphQLErrors } from "@apollo/client";
import { useApolloClient } from "@apollo/client/react";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { connectionEpoch, onEpoch } from "./connection";

/** Codes for which the same subscription would fail the same way again. */
const FINAL_CODES = new Set(["FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT"]);

export function isFinal(error: unknown): boolean {
  return (
    CombinedGraphQLErrors.is(error) &&
    error.errors.some((e) => FINAL_CODES.has(String(e.extensions?.["code"] ?? "")))
  );
}

/** Wait before the nth consecutive restart: 1 s, 2 s, 4 s ... at most 30 s, with jitter. */
export function restartDelay(attempt: number, random = Math.random()): number {
  return Math.min(30_000, 1_000 * 2 ** Math.min(attempt, 5)) * (0.75 + random / 2);
}

export function useConnectionEpoch(): number {
  return useSyncExternalStore(onEpoch, connectionEpoch);
}

export interface LiveOptions<TData, TVariables> {
  variables?: TVariables;
  /** Variables read when (re)subscribing, such as the newest cursor seen. */
  latest?: () => Partial<TVariables>;
  onData?: (data: TData) => void;
  skip?: boolean;
}

export function useLive<TData, TVariables extends OperationVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  { variables, latest, onData, skip = false }: LiveOptions<NoInfer<TData>, NoInfer<TVariables>> = {},
): void {
  const client = useApolloClient();
  const epoch = useConnectionEpoch();
  const [restarts, setRestarts] = useState(0);
  const failures = useRef(0);
  const handlers = useRef({ latest, onData });
  handlers.current = { latest, onData };
  const key = JSON.stringify(variables ?? {});

  useEffect(() => {
    if (skip) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const restartLater = () => {
      if (stopped) return;
      stopped = true;
      timer = setTimeout(() => setRestarts((n) => n + 1), restartDelay(failures.current));
    };
    const vars = { ...(JSON.parse(key) as TVariables), ...handlers.current.latest?.() } as TVariables;
    const subscription = client.subscribe({ query: document, variables: vars }).subscribe({
      next: (result) => {
        if (result.error) {
          failures.current += 1;
          if (!isFinal(result.error)) restartLater();
          else stopped = true;
          return;
        }
        failures.current = 0;
        if (result.data) handlers.current.onData?.(result.data as TData);
      },
      error: () => restartLater(),
      complete: () => restartLater(),
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      subscription.unsubscribe();
    };
  }, [client, document, key, skip, epoch, restarts]);
}
