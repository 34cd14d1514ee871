/**
 * Persisted documents: the app sends each operation's sha256 instead of its text (Apollo's
 * automatic persisted queries), so a server may run with CHATQL_TRUSTED_DOCUMENTS=web-app and
 * accept nothing but the app's own operations.
 *
 * The hashes are worked out at build time (scripts/persisted-documents.mjs) from the text
 * Apollo sends, which is also the manifest's; a server that does not know a hash yet answers
 * PERSISTED_QUERY_NOT_FOUND and the link sends the text once. Operations missing from the
 * build's list (none, unless the generated files are stale) go out as plain text.
 */
import { ApolloLink } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import type { DocumentNode } from "graphql";
import { persistedIds } from "../gql/persisted-ids";

function operationName(document: DocumentNode): string | undefined {
  for (const definition of document.definitions) {
    if (definition.kind === "OperationDefinition") return definition.name?.value;
  }
  return undefined;
}

/** The build-time hash of an operation, if the build listed it. */
export function persistedId(document: DocumentNode): string | undefined {
  const name = operationName(document);
  return name === undefined ? undefined : persistedIds[name];
}

/** Sends listed operations by hash (over HTTP and the WebSocket alike); others unchanged. */
export function persistedDocumentsLink(): ApolloLink {
  const persisted = new PersistedQueryLink({
    generateHash: (document) => {
      const id = persistedId(document);
      if (id === undefined) throw new Error("not a persisted document"); // split() keeps these out
      return id;
    },
  });
  return ApolloLink.split((operation) => persistedId(operation.query) !== undefined, persisted);
}
