// AWS Amplify v6 (`aws-amplify`) against ChatQL, as an app would use it against AWS AppSync:
// `Amplify.configure` + `generateClient`, once in lambda mode with a ChatQL access token and once
// in API-key mode. Each runs a query, a subscription (over /graphql/realtime) and a mutation
// whose message the subscription must receive. Amplify always connects to wss:// (it turns
// http:// into wss://), so ChatQL runs behind TLS here (NODE_EXTRA_CA_CERTS trusts its cert).
//
// env: CHATQL_ENDPOINT (https://host:port/graphql), CHATQL_TOKEN, CHATQL_ROOM (alice's room),
//      CHATQL_API_KEY, CHATQL_BOT_ROOM (a room of the key's account)
// prints: {"lambda": {...}, "apiKey": {...}} (what each mode observed)
import WebSocket from 'ws';
import { Amplify } from 'aws-amplify';
import { generateClient, CONNECTION_STATE_CHANGE, ConnectionState } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';

globalThis.WebSocket = WebSocket; // Node 20 has no WebSocket of its own

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const endpoint = env('CHATQL_ENDPOINT');

Amplify.configure({
  API: {
    GraphQL: { endpoint, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey: env('CHATQL_API_KEY') },
  },
});

let connectionState = ConnectionState.Disconnected;
const stateWaiters = [];
Hub.listen('api', ({ payload }) => {
  if (payload.event !== CONNECTION_STATE_CHANGE) return;
  connectionState = payload.data.connectionState;
  for (const waiter of [...stateWaiters]) waiter();
});

function until(predicate, what, ms = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    const check = () => {
      if (!predicate()) return;
      clearTimeout(timer);
      stateWaiters.splice(stateWaiters.indexOf(check), 1);
      resolve();
    };
    stateWaiters.push(check);
    check();
  });
}

const ME = /* GraphQL */ `query Me { me { id username } }`;
const SEND = /* GraphQL */ `
  mutation Send($input: CreateMessageInput!) {
    createMessage(input: $input) { id content chatRoomId author { username } }
  }`;
const ON_MESSAGE = /* GraphQL */ `
  subscription OnMessage($chatRoomId: ID!) {
    onMessageCreated(chatRoomId: $chatRoomId) { id content author { username } }
  }`;

async function session(client, room, text) {
  const me = (await client.graphql({ query: ME })).data.me;
  const received = [];
  let resolveFirst;
  const first = new Promise((resolve) => (resolveFirst = resolve));
  const errors = [];
  const subscription = client
    .graphql({ query: ON_MESSAGE, variables: { chatRoomId: room } })
    .subscribe({
      next: ({ data }) => {
        received.push(data.onMessageCreated);
        resolveFirst();
      },
      error: (error) => {
        errors.push(JSON.stringify(error));
        resolveFirst();
      },
    });
  // start_ack makes Amplify's connection state Connected: from then on no message is missed
  await until(() => connectionState === ConnectionState.Connected, 'start_ack');
  const sent = (
    await client.graphql({ query: SEND, variables: { input: { chatRoomId: room, content: text } } })
  ).data.createMessage;
  await Promise.race([first, new Promise((_, reject) => setTimeout(() => reject(new Error('no event')), 15000))]);
  subscription.unsubscribe();
  // Amplify closes the socket a second after its last subscription ends
  await until(() => connectionState === ConnectionState.Disconnected, 'the socket to close');
  return { me, sent, received, errors };
}

const lambdaClient = generateClient({ authMode: 'lambda', authToken: env('CHATQL_TOKEN') });
const lambda = await session(lambdaClient, env('CHATQL_ROOM'), 'hello from amplify (lambda)');

const apiKeyClient = generateClient(); // defaultAuthMode apiKey, with the configured key
const apiKey = await session(apiKeyClient, env('CHATQL_BOT_ROOM'), 'hello from amplify (api key)');

let refused = null; // a wrong API key over HTTP: Amplify rejects with ChatQL's error
try {
  await generateClient({ authMode: 'apiKey', apiKey: 'x'.repeat(32) }).graphql({ query: ME });
} catch (error) {
  refused = error.errors?.map((e) => ({ message: e.message, code: e.extensions?.code })) ?? String(error);
}

console.log(JSON.stringify({ lambda, apiKey, refused }));
process.exit(0);
