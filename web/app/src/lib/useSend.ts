/**
 * Optimistic sending: a pending line at once, confirmed or marked failed; retry keeps the clientId
 * (and the files: the server answers a retry with the message it stored the first time).
 */
import { useApolloClient, useMutation } from "@apollo/client/react";
import { useCallback } from "react";
import { SendMessageDocument } from "../gql/graphql";
import { describeError } from "./errors";
import { newClientId } from "./format";
import { addPending, confirmPending, pendingIn, updatePending, type PendingMessage } from "./pending";
import { storeMessage } from "./useRoomLive";

export function useSend(roomId: string) {
  const client = useApolloClient();
  const [mutate] = useMutation(SendMessageDocument);

  const deliver = useCallback(
    async (pending: PendingMessage) => {
      try {
        const result = await mutate({
          variables: {
            input: {
              chatRoomId: pending.roomId,
              content: pending.content,
              clientId: pending.clientId,
              replyToId: pending.replyToId,
              attachmentIds: pending.attachments?.length ? pending.attachments.map((a) => a.id) : undefined,
            },
          },
        });
        const message = result.data?.createMessage;
        if (message) storeMessage(client.cache, message);
        confirmPending(pending.roomId, pending.clientId);
      } catch (err) {
        updatePending(pending.roomId, pending.clientId, { status: "failed", error: describeError(err) });
      }
    },
    [client, mutate],
  );

  const send = useCallback(
    (content: string, replyToId: string | null = null, attachments: { id: string; name: string }[] = []) => {
      const pending: PendingMessage = {
        clientId: newClientId(),
        roomId,
        content,
        replyToId,
        attachments,
        createdAt: new Date().toISOString(),
        status: "sending",
      };
      addPending(pending);
      void deliver(pending);
    },
    [roomId, deliver],
  );

  const retry = useCallback(
    (clientId: string) => {
      const pending = pendingIn(roomId).find((m) => m.clientId === clientId);
      if (!pending) return;
      updatePending(roomId, clientId, { status: "sending", error: undefined });
      void deliver({ ...pending, status: "sending" });
    },
    [roomId, deliver],
  );

  return { send, retry };
}
