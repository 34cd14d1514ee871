import { ApolloClient, ApolloLink } from "@apollo/client";
import { print } from "@apollo/client/utilities";
import type { DocumentNode } from "graphql";
import { Observable } from "rxjs";
import { describe, expect, it } from "vitest";
import * as documents from "../gql/graphql";
import manifestText from "../gql/persisted-documents.json?raw";
import { createCache } from "./apollo";
import { persistedDocumentsLink, persistedId } from "./persisted";

interface Sent {
  name: string;
  body: string;
  hash: string | undefined;
}

const manifest = JSON.parse(manifestText) as {
  format: string;
  version: number;
  operations: { id: string; name: string; type: string; body: string }[];
};

const operations = Object.values(documents).filter(
  (value): value is DocumentNode =>
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: string }).kind === "Document" &&
    (value as DocumentNode).definitions.some((d) => d.kind === "OperationDefinition"),
);

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What the app's link chain hands to its transport for `document`. */
async function sent(document: DocumentNode): Promise<Sent> {
  let seen: Sent | undefined;
  const recorder = new ApolloLink((operation) => {
    const persisted = operation.extensions["persistedQuery"] as { sha256Hash?: string } | undefined;
    seen = { name: operation.operationName ?? "", body: print(operation.query), hash: persisted?.sha256Hash };
    return new Observable((observer) => observer.error(new Error("recorded")));
  });
  const client = new ApolloClient({ link: ApolloLink.from([persistedDocumentsLink(), recorder]), cache: createCache() });
  const definition = document.definitions.find((d) => d.kind === "OperationDefinition");
  const kind = definition?.kind === "OperationDefinition" ? definition.operation : "query";
  try {
    if (kind === "mutation") await client.mutate({ mutation: document });
    else if (kind === "subscription")
      await new Promise<void>((resolve) =>
        client.subscribe({ query: document }).subscribe({ next: () => resolve(), error: () => resolve(), complete: resolve }),
      );
    else await client.query({ query: document, fetchPolicy: "network-only" });
  } catch {
    // the recorder ends every operation
  }
  if (!seen) throw new Error("the operation never reached the transport");
  return seen;
}

describe("persisted documents", () => {
  it("list every operation of the app, in Apollo's manifest format", () => {
    expect(manifest.format).toBe("apollo-persisted-query-manifest");
    expect(manifest.version).toBe(1);
    expect(operations.length).toBeGreaterThan(10);
    expect(manifest.operations.map((o) => o.name).sort()).toEqual(
      operations.map((d) => (d.definitions[0] as { name?: { value: string } }).name?.value).sort(),
    );
  });

  it("send each operation by the hash of the very text Apollo sends, which the manifest holds", async () => {
    const byId = new Map(manifest.operations.map((o) => [o.id, o]));
    for (const document of operations) {
      const { name, body, hash } = await sent(document);
      expect(hash, name).toBe(persistedId(document));
      expect(hash, name).toBe(await sha256(body)); // the server checks this when given the text
      expect(byId.get(hash ?? "")?.body, name).toBe(body); // and runs this under trusted documents
    }
  });
});
