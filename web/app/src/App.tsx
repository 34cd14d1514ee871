import { ApolloProvider } from "@apollo/client/react";
import type { ApolloClient } from "@apollo/client";
import { useLayoutEffect, useState } from "react";
import { AccountPageView } from "./components/AccountPageView";
import { AuthScreen } from "./components/AuthScreen";
import { Shell } from "./components/Shell";
import { createApolloClient, createWsClient } from "./lib/apollo";
import { clearPending } from "./lib/pending";
import { useRoute } from "./lib/router";
import { getSession, onSessionChange, type Session } from "./lib/session";

/**
 * The account pages that mails and sign-in providers link to come first, signed in or out;
 * then the app when signed in (a guest's too), else the sign-in screen.
 *
 * One Apollo client and socket per signed-in user: signing out (or in as someone else) drops
 * the cache, the socket and the unsent messages. They are made in an effect, not during render,
 * so that React may mount, unmount and mount again (StrictMode) without reusing a closed client.
 */
export function App() {
  const [session, setSessionState] = useState<Session | null>(getSession);
  const route = useRoute();
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
      // Disposing while the socket (re)connects rejects with that attempt's close event (the
      // server ends the sockets of a deleted account, say): nothing to report by then.
      void Promise.resolve(ws.dispose()).catch(() => undefined);
      client.stop();
      clearPending();
    };
  }, [userId]);
  if (!current || current.userId !== userId) return null;
  return (
    <ApolloProvider client={current.client}>
      {route.page ? (
        <AccountPageView key={route.page} page={route.page} params={route.params} signedIn={session !== null} />
      ) : session ? (
        <Shell me={session.user} />
      ) : (
        <AuthScreen />
      )}
    </ApolloProvider>
  );
}
