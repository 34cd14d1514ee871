import { ApolloProvider } from "@apollo/client/react";
import { useEffect, useMemo, useState } from "react";
import { AuthScreen } from "./components/AuthScreen";
import { Shell } from "./components/Shell";
import { createApolloClient, createWsClient } from "./lib/apollo";
import { getSession, onSessionChange, type Session } from "./lib/session";

/** One Apollo client per signed-in user: signing out drops the cache and the socket. */
export function App() {
  const [session, setSessionState] = useState<Session | null>(getSession);
  useEffect(() => onSessionChange(setSessionState), []);
  const userId = session?.user.id ?? null;
  const { client, ws } = useMemo(() => {
    const ws = createWsClient();
    return { ws, client: createApolloClient(ws) };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- a new client per user
  }, [userId]);
  useEffect(
    () => () => {
      void ws.dispose();
      client.stop();
    },
    [client, ws],
  );
  return (
    <ApolloProvider client={client}>
      {session ? <Shell me={session.user} /> : <AuthScreen />}
    </ApolloProvider>
  );
}
