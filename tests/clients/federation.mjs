// ChatQL as an Apollo Federation 2 subgraph, composed and queried by Apollo's own tools.
//
// A second subgraph ("moderation", @apollo/subgraph on node:http) adds `User.trustScore` and a
// root field `reportedMessages` that returns references to ChatQL's messages. @apollo/composition
// composes it with ChatQL's `_service { sdl }`; @apollo/gateway plans and runs queries across
// both, forwarding the caller's ChatQL token to ChatQL only. A second gateway composes the two
// itself from their `_service { sdl }` (IntrospectAndCompose), as the README sets it up.
//
// Env: CHATQL_URL, CHATQL_TOKEN (the caller), TRUST_SCORES (JSON {userId: score}),
// REPORTED_IDS (JSON [messageId]), ROOM_ID (a room the caller reads).
// Prints one JSON line: what composition said and what each gateway query returned.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

import { composeServices } from '@apollo/composition';
import { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } from '@apollo/gateway';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, parse } from 'graphql';

const { CHATQL_URL, CHATQL_TOKEN, ROOM_ID } = process.env;
const TRUST_SCORES = JSON.parse(process.env.TRUST_SCORES);
const REPORTED_IDS = JSON.parse(process.env.REPORTED_IDS);

const MODERATION_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type User @key(fields: "id") {
    id: ID!
    "How far moderators trust this user, 0-100"
    trustScore: Int!
  }

  type Message @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    "Messages reported to the moderators; ChatQL decides what the caller may see"
    reportedMessages: [Message]!
  }
`;

const seenByModeration = [];
const moderationSchema = buildSubgraphSchema([
  {
    typeDefs: parse(MODERATION_SDL),
    resolvers: {
      Query: {
        reportedMessages: () => REPORTED_IDS.map((id) => ({ __typename: 'Message', id })),
      },
      User: {
        __resolveReference(reference) {
          seenByModeration.push(reference);
          return { id: reference.id, trustScore: TRUST_SCORES[reference.id] ?? 0 };
        },
      },
    },
  },
]);

function serveModeration() {
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const { query, variables, operationName } = JSON.parse(body);
    const result = await graphql({
      schema: moderationSchema,
      source: query,
      variableValues: variables,
      operationName,
    });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(result));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function chatqlSdl() {
  const response = await fetch(CHATQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await response.json();
  if (!body.data) throw new Error(`_service failed: ${JSON.stringify(body)}`);
  return body.data._service.sdl;
}

class ChatQLDataSource extends RemoteGraphQLDataSource {
  // The gateway's callers sign in to ChatQL; their token goes to ChatQL and nowhere else.
  willSendRequest({ request, context }) {
    if (context.token) request.http.headers.set('authorization', `Bearer ${context.token}`);
  }
}

// For each type of the supergraph, the subgraphs that key it by `id` (from @join__type).
function keyedBy(supergraphSdl) {
  const keyed = {};
  for (const definition of parse(supergraphSdl).definitions) {
    if (definition.kind !== 'ObjectTypeDefinition') continue;
    for (const directive of definition.directives ?? []) {
      const args = Object.fromEntries(directive.arguments.map((a) => [a.name.value, a.value]));
      if (directive.name.value !== 'join__type' || args.key?.value !== 'id') continue;
      (keyed[definition.name.value] ??= []).push(args.graph.value);
    }
  }
  return keyed;
}

async function main() {
  const moderation = await serveModeration();
  const moderationUrl = `http://127.0.0.1:${moderation.address().port}/graphql`;
  const sdl = await chatqlSdl();
  const composed = composeServices([
    { name: 'chatql', typeDefs: parse(sdl), url: CHATQL_URL },
    { name: 'moderation', typeDefs: parse(MODERATION_SDL), url: moderationUrl },
  ]);
  const hints = (composed.hints ?? []).map((hint) => hint.toString());
  for (const hint of hints) console.log(`composition hint: ${hint}`);
  if (composed.errors) {
    console.log(JSON.stringify({ composeErrors: composed.errors.map((e) => e.message) }));
    moderation.close();
    return;
  }

  const buildService = ({ name, url }) =>
    name === 'chatql' ? new ChatQLDataSource({ url }) : new RemoteGraphQLDataSource({ url });
  const gateway = new ApolloGateway({ supergraphSdl: composed.supergraphSdl, buildService });
  const { executor } = await gateway.load();

  // The executor is what Apollo Server calls for each operation: it plans the query across the
  // subgraphs and runs the plan. This is the request context it reads.
  async function run(query, variables, token, execute = executor) {
    const document = parse(query);
    return execute({
      request: { query, variables },
      document,
      source: query,
      queryHash: createHash('sha256').update(query).digest('hex'),
      operationName: null,
      operation: document.definitions[0],
      context: { token },
      logger: console,
      metrics: {},
      cache: undefined,
    });
  }

  const historyQuery = `query History($room: ID!) {
    messagesByRoom(chatRoomId: $room, limit: 10, sortDirection: ASC) {
      items { content author { username trustScore } }
    }
  }`;
  const history = await run(historyQuery, { room: ROOM_ID }, CHATQL_TOKEN);
  const reportedQuery = `query Reported {
    reportedMessages { id content author { username trustScore } chatRoom { name } }
  }`;
  const reported = await run(reportedQuery, {}, CHATQL_TOKEN);
  const anonymous = await run(reportedQuery, {}, undefined);

  // The README's set-up: the gateway fetches each subgraph's `_service { sdl }` and composes
  // them itself (IntrospectAndCompose), rather than being handed a supergraph.
  const introspecting = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [
        { name: 'chatql', url: CHATQL_URL },
        { name: 'moderation', url: moderationUrl },
      ],
    }),
    buildService,
  });
  const loaded = await introspecting.load();
  const introspectedHistory = await run(
    historyQuery,
    { room: ROOM_ID },
    CHATQL_TOKEN,
    loaded.executor,
  );

  await introspecting.stop();
  await gateway.stop();
  moderation.close();
  console.log(
    JSON.stringify({
      composeErrors: null,
      hints,
      keyedBy: keyedBy(composed.supergraphSdl),
      history,
      introspectedHistory,
      reported,
      anonymous,
      seenByModeration,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
