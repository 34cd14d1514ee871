import { ApolloProvider } from "@apollo/client/react";
import type { ApolloClient } from "@apollo/client";
import { useLayoutEffect, useState } from "react";
import { AuthScreen } from "./components/AuthScreen";
import { Shell } from "./components/Shell";
import { createApolloClient, createWsClient } from "./lib/apollo";
import { clearPending } from "./lib/pending";
import { getSession, onSessionChange, type Session } from "./lib/session";

/**
 * One Apollo client and socket per signed-in user: signing out (or in as someone else) drops
 * the cache, the socket and the unsent messages. They are made in an effect, not during render,
 * so that React may mount, unmount and mount again (StrictMode) without reusing a closed client.
 */
export function App() {
  const [session, setSessionState] = useState<Session | null>(getSession);
  useLayoutEffect(() => onSessionChange(setSessionState), []);
  const userId = session?.user.id ?? null;
  const [current, setCurrent] = useState<{ userId: string | null; client: ApolloClient } | null>(null);
  useLayoutEffect(() => {
    const controller = new AbortController();
    const ws = createWsClient(controller.signal);
    const client = createApolloClient(ws);
    setCurrent({ userId, client });
    return () => {
      controller.abort();
      void ws.dispose();
      client.stop();
      clearPending();
    };
  }, [userId]);
  if (!current || current.userId !== userId) return null;
  return (
    <ApolloProvider client={current.client}>
      {session ? <Shell me={session.user} /> : <AuthScreen />}
    </ApolloProvider>
  );
}
