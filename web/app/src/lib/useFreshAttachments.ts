/**
 * File URLs are signed and expire (an hour by default). A picture that fails to load, or a
 * download clicked too late, asks the server for the message's files again: the answer lands
 * in the cache (attachments are normalised by id), so every view of them gets the new URLs.
 */
import { useApolloClient } from "@apollo/client/react";
import { useCallback } from "react";
import { MessageAttachmentsDocument } from "../gql/graphql";
import type { AttachmentView } from "./files";

/** One request per message at a time, however many images of it fail together. */
const inFlight = new Map<string, Promise<AttachmentView[] | null>>();

export function useFreshAttachments(messageId: string): () => Promise<AttachmentView[] | null> {
  const client = useApolloClient();
  return useCallback(() => {
    let request = inFlight.get(messageId);
    if (!request) {
      request = client
        .query({ query: MessageAttachmentsDocument, variables: { id: messageId }, fetchPolicy: "network-only" })
        .then((result) => result.data?.getMessage?.attachments ?? null)
        .catch(() => null)
        .finally(() => inFlight.delete(messageId));
      inFlight.set(messageId, request);
    }
    return request;
  }, [client, messageId]);
}
