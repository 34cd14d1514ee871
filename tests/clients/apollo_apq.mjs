// Apollo Client 4 with its persisted-queries link against ChatQL (tests/test_persisted_queries.py).
//
// CHATQL_MODE=print:   print the documents below as Apollo sends them (the test writes a
//                      trusted-documents manifest from them); no server needed.
// CHATQL_MODE=apq:     a query (miss, then the text; then a hit with the hash alone, over POST
//                      and over GET), a mutation, and a subscription over graphql-ws.
// CHATQL_MODE=trusted: the listed operations run by hash alone; an unlisted one is refused.
// The last line of output is one JSON object.
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition, print } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import { Observable } from "rxjs";
import WebSocket from "ws";

globalThis.WebSocket ??= WebSocket; // Apollo's graphql-ws link tells socket errors apart by it

const { CHATQL_URL: url, CHATQL_TOKEN: token, CHATQL_ROOM: room, CHATQL_MODE: mode } = process.env;

const ME = gql`
  query Me {
    me {
      id
      username
    }
  }
`;
const ROOMS = gql`
  query Rooms {
    listChatRooms {
      items {
        id
        name
      }
    }
  }
`;
const SEND = gql`
  mutation Send($r: ID!, $c: String!) {
    createMessage(input: { chatRoomId: $r, content: $c }) {
      id
      content
    }
  }
`;
const ON_MESSAGE = gql`
  subscription OnMessage($r: ID!) {
    onMessageCreated(chatRoomId: $r) {
      id
      content
    }
  }
`;
const UNLISTED = gql`
  query Unlisted {
    me {
      username
      displayName
    }
  }
`;
const LISTED = { Me: ME, Rooms: ROOMS, Send: SEND, OnMessage: ON_MESSAGE };

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/** Every request the HTTP link makes: method, whether it carried the text, the hash. */
const requests = [];
async function countingFetch(input, init) {
  const method = init?.method ?? "GET";
  const target = new URL(typeof input === "string" ? input : input.url);
  let body = {};
  if (method === "POST") body = JSON.parse(init.body);
  else {
    body.query = target.searchParams.get("query") ?? undefined;
    const extensions = target.searchParams.get("extensions");
    body.extensions = extensions ? JSON.parse(extensions) : undefined;
  }
  requests.push({
    method,
    operation: body.operationName ?? target.searchParams.get("operationName"),
    text: typeof body.query === "string",
    hash: Boolean(body.extensions?.persistedQuery?.sha256Hash),
  });
  return fetch(input, init);
}

function makeClient({ useGET = false } = {}) {
  const ws = createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 0,
  });
  const http = new HttpLink({ uri: url, fetch: countingFetch, headers: { authorization: `Bearer ${token}` } });
  const transport = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === "OperationDefinition" && definition.operation === "subscription";
    },
    new GraphQLWsLink(ws),
    http,
  );
  const persisted = new PersistedQueryLink({ sha256, useGETForHashedQueries: useGET });
  const client = new ApolloClient({ link: ApolloLink.from([persisted, transport]), cache: new InMemoryCache() });
  return { client, ws };
}

/** The error codes an operation failed with (or null). */
function codes(error) {
  const errors = error?.errors ?? [];
  return errors.map((e) => e.extensions?.code ?? e.message);
}

async function firstMessage(client, action) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message within 10 s")), 10_000);
    const subscription = client.subscribe({ query: ON_MESSAGE, variables: { r: room } }).subscribe({
      next: (result) => {
        if (result.error) {
          clearTimeout(timer);
          reject(result.error);
          return;
        }
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(result.data.onMessageCreated.content);
      },
      error: (error) => {
        clearTimeout(timer);
        reject(error);
      },
    });
    // subscribed once the server has the operation: give the socket a moment, then act
    setTimeout(() => action().catch(reject), 500);
  });
}

async function printed() {
  // What Apollo sends: the document after the cache's transforms (__typename added).
  const seen = {};
  const recorder = new ApolloLink((operation) => {
    seen[operation.operationName] = print(operation.query);
    return new Observable((observer) => observer.error(new Error("recorded")));
  });
  const client = new ApolloClient({ link: recorder, cache: new InMemoryCache() });
  for (const [name, query] of Object.entries(LISTED)) {
    const definition = getMainDefinition(query);
    try {
      if (definition.operation === "mutation") await client.mutate({ mutation: query, variables: { r: "x", c: "x" } });
      else if (definition.operation === "subscription") {
        await new Promise((resolve) => {
          client.subscribe({ query, variables: { r: "x" } }).subscribe({ next: resolve, error: resolve, complete: resolve });
        });
      } else await client.query({ query, fetchPolicy: "network-only" });
    } catch {
      // recorded
    }
    if (!seen[name]) throw new Error(`${name} was not recorded`);
  }
  return { documents: seen };
}

async function apq() {
  const { client, ws } = makeClient();
  const first = await client.query({ query: ME, fetchPolicy: "network-only" });
  const afterFirst = requests.length;
  const second = await client.query({ query: ME, fetchPolicy: "network-only" });
  const afterSecond = requests.length;
  const sent = await client.mutate({ mutation: SEND, variables: { r: room, c: "by mutation" } });
  const received = await firstMessage(client, () =>
    client.mutate({ mutation: SEND, variables: { r: room, c: "live" } }),
  );
  await ws.dispose();

  const viaGet = makeClient({ useGET: true });
  const mark = requests.length;
  const rooms1 = await viaGet.client.query({ query: ROOMS, fetchPolicy: "network-only" });
  const rooms2 = await viaGet.client.query({ query: ROOMS, fetchPolicy: "network-only" });
  await viaGet.ws.dispose();
  return {
    me: [first.data.me.username, second.data.me.username],
    firstQuery: requests.slice(0, afterFirst),
    secondQuery: requests.slice(afterFirst, afterSecond),
    mutation: sent.data.createMessage.content,
    received,
    get: requests.slice(mark),
    rooms: [rooms1.data.listChatRooms.items.length, rooms2.data.listChatRooms.items.length],
  };
}

async function trusted() {
  const { client, ws } = makeClient();
  const me = await client.query({ query: ME, fetchPolicy: "network-only" });
  const received = await firstMessage(client, () =>
    client.mutate({ mutation: SEND, variables: { r: room, c: "trusted" } }),
  );
  let refused = null;
  try {
    await client.query({ query: UNLISTED, fetchPolicy: "network-only" });
  } catch (error) {
    refused = codes(error);
  }
  let refusedLive = null;
  try {
    await new Promise((resolve, reject) => {
      const query = gql`
        subscription Unlisted($r: ID!) {
          onMessageCreated(chatRoomId: $r) {
            id
          }
        }
      `;
      client.subscribe({ query, variables: { r: room } }).subscribe({
        next: (result) => (result.error ? reject(result.error) : resolve(result)),
        error: reject,
      });
    });
  } catch (error) {
    refusedLive = codes(error).length ? codes(error) : [String(error?.message ?? error)];
  }
  await ws.dispose();
  return { me: me.data.me.username, received, refused, refusedLive, requests };
}

const modes = { print: printed, apq, trusted };
const result = await modes[mode]();
console.log(JSON.stringify(result));
process.exit(0);
