// The graphql-sse client (distinct connections mode) against a real ChatQL: a query, a mutation,
// a subscription that receives a message, and a resume with `after`; then a request without a
// token. Env: CHATQL_SSE_URL, ALICE_TOKEN, BOB_TOKEN, ROOM_ID. Prints one JSON object.
import { createClient } from "graphql-sse";

const url = process.env.CHATQL_SSE_URL;
const room = process.env.ROOM_ID;
const ON_MESSAGE = `subscription($r: ID!, $a: String) {
  onMessageCreated(chatRoomId: $r, after: $a) { id content seq cursor author { username } }
}`;
const SEND = `mutation($i: CreateMessageInput!) {
  createMessage(input: $i) { id content seq cursor }
}`;

function client(token) {
  return createClient({
    url,
    headers: () => (token ? { authorization: `Bearer ${token}` } : {}), // asked per request
    retryAttempts: 0, // a refusal is reported, not retried
  });
}

/** Every result of one operation (a query or mutation: one `next`, then `complete`). */
async function results(sse, request) {
  const out = [];
  for await (const result of sse.iterate(request)) out.push(result);
  return out;
}

/** An open subscription: `take(n)` waits for the next n results. */
async function subscribe(sse, variables) {
  let connected;
  const ready = new Promise((resolve) => (connected = resolve));
  const iterator = sse.iterate({ query: ON_MESSAGE, variables }, { connected });
  await ready; // the response has started
  await new Promise((resolve) => setTimeout(resolve, 500)); // the server opens the room feed
  return {
    async take(count) {
      const out = [];
      while (out.length < count) {
        const { value, done } = await iterator.next();
        if (done) throw new Error(`stream completed after ${JSON.stringify(out)}`);
        if (value.errors) throw new Error(JSON.stringify(value.errors));
        out.push(value.data.onMessageCreated);
      }
      return out;
    },
    close: () => iterator.return(),
  };
}

const alice = client(process.env.ALICE_TOKEN);
const bob = client(process.env.BOB_TOKEN);
const send = async (content) => {
  const [result] = await results(alice, { query: SEND, variables: { i: { chatRoomId: room, content } } });
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data.createMessage;
};

const me = await results(bob, { query: "{ me { username } }" });

const live = await subscribe(bob, { r: room });
const sent = await send("live 1");
const [received] = await live.take(1);
await live.close();

await send("missed 1"); // bob is away
await send("missed 2");
const resumed = await subscribe(bob, { r: room, a: received.cursor });
const replayed = await resumed.take(2);
await send("live 2");
const [afterResume] = await resumed.take(1);
await resumed.close();

let unauthenticated = null;
try {
  await results(client(null), { query: "{ me { username } }" });
} catch (error) {
  unauthenticated = { name: error.name, status: error.response?.status };
}

alice.dispose();
bob.dispose();
console.log(
  JSON.stringify({
    me,
    sent,
    received,
    replayed: replayed.map((m) => m.content),
    afterResume: afterResume.content,
    unauthenticated,
  }),
);
