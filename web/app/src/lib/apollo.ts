/**
 * The Apollo Client: queries and mutations over HTTP, subscriptions over graphql-ws
 * (graphql-transport-ws), one normalised cache; operations go by hash (persisted.ts).
 *
 * The WebSocket authenticates in connection_init with a fresh access token on every (re)connect,
 * retries forever with backoff while the browser is online, and reports its state for the
 * status line. A drop bumps the connection epoch so that live views resubscribe from their last
 * cursor (see useLive), and the return announces a reconnect so that views refetch.
 */
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { ErrorLink } from "@apollo/client/link/error";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { OperationTypeNode } from "graphql";
import { createClient, type Client } from "graphql-ws";
import { from, map, mergeMap } from "rxjs";
import { announceReconnect, bumpEpoch, setConnectionState } from "./connection";
import { mergeMessagePages, mergeReplyPages } from "./messageCache";
import { persistedDocumentsLink } from "./persisted";
import { accessToken, getSession, refresh, setSession } from "./session";
import { mergeStreamPages } from "./streams";
import { StreamLedger } from "./streaming";

const GRAPHQL_PATH = "/graphql";

function wsUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${GRAPHQL_PATH}`;
}

/** Close codes after which retrying with the same credentials cannot help. */
const FATAL_CLOSE_CODES = new Set([4400, 4406]);

/** The socket client; `signal` ends its browser listeners when the user's session ends. */
export function createWsClient(signal: AbortSignal): Client {
  let connectedOnce = false;
  let open = false;
  let wasClosed = false;
  const client = createClient({
    url: wsUrl(),
    lazy: true,
    lazyCloseTimeout: 3_000,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (event) => {
      const code = (event as { code?: number } | null)?.code;
      return !(code !== undefined && FATAL_CLOSE_CODES.has(code));
    },
    retryWait: async (retries) => {
      // 0.5 s, 1 s, 2 s ... capped at 10 s, with jitter; waits for the network when offline.
      const delay = Math.min(10_000, 500 * 2 ** Math.min(retries, 5)) * (0.75 + Math.random() / 2);
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (!navigator.onLine) await waitForOnline();
    },
    connectionParams: async () => {
      const token = await accessToken();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    on: {
      connecting: () => setConnectionState(navigator.onLine ? (connectedOnce ? "reconnecting" : "connecting") : "offline"),
      connected: () => {
        setConnectionState("online");
        if (connectedOnce && wasClosed) announceReconnect();
        connectedOnce = true;
        open = true;
        wasClosed = false;
      },
      closed: (event) => {
        wasClosed = true;
        if (open) {
          open = false;
          bumpEpoch();
        }
        const code = (event as { code?: number } | null)?.code;
        if (code === 4403 || code === 4401 || code === 4001) {
          // The token was refused or the session revoked: refresh (or end the session) first.
          void refresh();
        }
        setConnectionState(navigator.onLine ? "reconnecting" : "offline");
      },
    },
  });
  window.addEventListener(
    "offline",
    () => {
      setConnectionState("offline");
      client.terminate(); // sockets can linger when the network is gone; start over on return
    },
    { signal },
  );
  window.addEventListener(
    "online",
    () => {
      setConnectionState("reconnecting");
      client.terminate();
    },
    { signal },
  );
  return client;
}

function waitForOnline(): Promise<void> {
  return new Promise((resolve) => window.addEventListener("online", () => resolve(), { once: true }));
}

/** Operations whose UNAUTHENTICATED means a wrong password, not an ended session. */
const PASSWORD_CHECKS = new Set(["ChangePassword", "DeleteAccount", "Login"]);

function hasCode(error: unknown, code: string): boolean {
  return CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.["code"] === code);
}

/** The normalised cache: one history list per room, messages by id. */
export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          messagesByRoom: { keyArgs: ["chatRoomId"], merge: mergeMessagePages },
          listChatRooms: { keyArgs: false, merge: (_existing, incoming: unknown) => incoming },
          // One list per filter; "Load more" appends the next page.
          streams: { keyArgs: ["search", "category", "tag", "status", "creatorId", "limit"], merge: mergeStreamPages },
        },
      },
      ChatRoom: { fields: { members: { keyArgs: ["limit"], merge: (_e, incoming: unknown) => incoming } } },
      Message: {
        fields: {
          reactions: { merge: (_existing, incoming: unknown) => incoming },
          replies: { keyArgs: false, merge: mergeReplyPages },
          // Replaced whole: a refetch brings newly signed URLs (see useFreshAttachments).
          attachments: { merge: (_existing, incoming: unknown) => incoming },
        },
      },
      ReactionGroup: { keyFields: false },
      TypingIndicator: { keyFields: false },
      UserPresence: { keyFields: ["userId"] },
      RoomMembershipEvent: { keyFields: false },
      MyRoomsEvent: { keyFields: false },
    },
  });
}

export function createApolloClient(ws: Client): ApolloClient {
  const auth = new SetContextLink(async (prev) => {
    const token = await accessToken();
    return token ? { headers: { ...prev["headers"], authorization: `Bearer ${token}` } } : {};
  });

  // An access token the server refuses (expired early, server restarted with a new secret):
  // rotate once and retry; a second refusal ends the session. Operations that check a password
  // again answer UNAUTHENTICATED for a wrong one: that is the form's error, not the session's.
  const retryOnUnauthenticated = new ErrorLink(({ error, operation, forward }) => {
    if (!hasCode(error, "UNAUTHENTICATED") || !getSession()) return;
    if (operation.operationName && PASSWORD_CHECKS.has(operation.operationName)) return;
    const context = operation.getContext();
    if (context["retriedAuth"]) {
      setSession(null);
      return;
    }
    operation.setContext({ retriedAuth: true });
    return from(refresh()).pipe(mergeMap(() => forward(operation)));
  });

  // Every result, live or not, on its way to the cache: an assistant's reply never goes back to
  // an older, shorter or still-streaming copy of itself (see streaming.ts).
  const ledger = new StreamLedger();
  const streaming = new ApolloLink((operation, forward) =>
    forward(operation).pipe(map((result) => (result.data ? { ...result, data: ledger.reconcile(result.data) } : result))),
  );

  const http = new HttpLink({ uri: GRAPHQL_PATH });
  const transport = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    new GraphQLWsLink(ws),
    ApolloLink.from([retryOnUnauthenticated, auth, http]),
  );
  // Before the split: subscriptions name their document by hash too (see persisted.ts).
  const link = ApolloLink.from([streaming, persistedDocumentsLink(), transport]);

  return new ApolloClient({
    link,
    cache: createCache(),
    defaultOptions: { watchQuery: { fetchPolicy: "cache-and-network" } },
  });
}
