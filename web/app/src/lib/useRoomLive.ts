/**
 * A room's live state: history pages from the cache, new messages from `onMessageCreated`
 * resumed with `after` (the newest cursor seen) whenever the socket comes back, and edits,
 * deletions, reactions and typing from their own subscriptions.
 *
 * Nothing is lost or doubled across a network drop: the server replays everything after the
 * cursor, and the cache keeps each message once (by id, ordered by seq).
 */
import { gql, type ApolloCache } from "@apollo/client";
import { useApolloClient, useQuery, useSubscription } from "@apollo/client/react";
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import {
  OnMessageCreatedDocument,
  OnMessageDeletedDocument,
  OnMessageUpdatedDocument,
  OnReactionAddedDocument,
  OnReactionRemovedDocument,
  OnTypingEndedDocument,
  OnTypingStartedDocument,
  RoomHistoryDocument,
  ThreadDocument,
  type OnMessageCreatedSubscription,
  type RoomHistoryQuery,
} from "../gql/graphql";
import { connectionEpoch, onEpoch } from "./connection";
import { confirmPending } from "./pending";
import { addReaction, removeReaction, type Group } from "./reactions";

export type HistoryMessage = RoomHistoryQuery["messagesByRoom"]["items"][number];
type LiveMessage = OnMessageCreatedSubscription["onMessageCreated"];

/** Put a message into its room's history (and its thread), once. */
export function storeMessage(cache: ApolloCache, message: LiveMessage): void {
  const id = cache.identify({ __typename: "Message", id: message.id });
  const known = id ? cache.readFragment({ id, fragment: KNOWN, fragmentName: "Known" }) : null;
  const full: HistoryMessage = { ...message, reactions: [] };
  cache.updateQuery({ query: RoomHistoryDocument, variables: { chatRoomId: message.chatRoomId } }, (data) =>
    data
      ? { messagesByRoom: { ...data.messagesByRoom, items: [full, ...data.messagesByRoom.items] } }
      : undefined,
  );
  if (message.clientId) confirmPending(message.chatRoomId, message.clientId);
  // The rooms list shows the newest top-level message and sorts by activity.
  const room = cache.identify({ __typename: "ChatRoom", id: message.chatRoomId });
  if (room && id && !message.replyToId) {
    cache.modify({
      id: room,
      fields: {
        lastMessage: (current: unknown, { readField, toReference }) => {
          const currentSeq = current ? (readField<number>("seq", current as never) ?? 0) : 0;
          return currentSeq > message.seq ? current : toReference(id);
        },
        lastActivity: (current: unknown) =>
          typeof current === "string" && current > message.createdAt ? current : message.createdAt,
      },
    });
  }
  if (message.replyToId && !known) {
    const parent = cache.identify({ __typename: "Message", id: message.replyToId });
    if (parent) cache.modify({ id: parent, fields: { replyCount: (n: number) => n + 1 } });
    cache.updateQuery({ query: ThreadDocument, variables: { id: message.replyToId } }, (data) => {
      if (!data?.getMessage) return undefined;
      const replies = data.getMessage.replies;
      if (replies.items.some((r) => r.id === message.id)) return undefined;
      return { getMessage: { ...data.getMessage, replies: { ...replies, items: [...replies.items, message] } } };
    });
  }
}

const KNOWN = gql`
  fragment Known on Message {
    id
  }
`;

export function useConnectionEpoch(): number {
  return useSyncExternalStore(onEpoch, connectionEpoch);
}

export interface Typist {
  userId: string;
  userName: string;
  until: number;
}

export function useRoomLive(roomId: string, meId: string) {
  const client = useApolloClient();
  const epoch = useConnectionEpoch();
  const history = useQuery(RoomHistoryDocument, {
    variables: { chatRoomId: roomId },
    fetchPolicy: "cache-and-network",
    nextFetchPolicy: "cache-first",
  });
  const items = history.data?.messagesByRoom.items;
  const newestCursor = useRef<string | null>(null);
  newestCursor.current = items?.[0]?.cursor ?? newestCursor.current;
  const loaded = history.data !== undefined || (history.error !== undefined && !history.loading);
  const [lastLive, setLastLive] = useState<LiveMessage | null>(null);

  // New messages: resume after the newest cursor on first load and after every reconnect.
  useEffect(() => {
    if (!loaded) return;
    const subscription = client
      .subscribe({ query: OnMessageCreatedDocument, variables: { chatRoomId: roomId, after: newestCursor.current } })
      .subscribe({
        next: (result) => {
          const message = result.data?.onMessageCreated;
          if (!message) return;
          storeMessage(client.cache, message);
          newestCursor.current = message.cursor;
          setLastLive(message);
        },
        error: () => undefined, // the socket retries; the next epoch resubscribes
      });
    return () => subscription.unsubscribe();
  }, [client, roomId, loaded, epoch]);

  // Edits, deletions and reactions missed while away come back with the newest page.
  const refetchHistory = history.refetch;
  useEffect(() => {
    if (epoch > 0) void refetchHistory().catch(() => undefined);
  }, [epoch, refetchHistory]);

  useSubscription(OnMessageUpdatedDocument, { variables: { chatRoomId: roomId } });
  useSubscription(OnMessageDeletedDocument, { variables: { chatRoomId: roomId } });

  const seenReactions = useRef(new Set<string>());
  const applyReaction = useCallback(
    (event: { id: string; messageId: string; emoji: string; userId: string }, added: boolean) => {
      const key = `${added ? "+" : "-"}${event.id}`;
      if (seenReactions.current.has(key)) return;
      seenReactions.current.add(key);
      const id = client.cache.identify({ __typename: "Message", id: event.messageId });
      if (!id) return;
      const mine = event.userId === meId;
      client.cache.modify({
        id,
        fields: {
          reactions: (value) => {
            const groups = value as readonly Group[]; // ReactionGroup is not normalised
            return added ? addReaction(groups, event.emoji, mine) : removeReaction(groups, event.emoji, mine);
          },
        },
      });
    },
    [client, meId],
  );
  useSubscription(OnReactionAddedDocument, {
    variables: { chatRoomId: roomId },
    onData: ({ data }) => data.data && applyReaction(data.data.onReactionAdded, true),
  });
  useSubscription(OnReactionRemovedDocument, {
    variables: { chatRoomId: roomId },
    onData: ({ data }) => data.data && applyReaction(data.data.onReactionRemoved, false),
  });

  const [typists, setTypists] = useState<Typist[]>([]);
  useSubscription(OnTypingStartedDocument, {
    variables: { chatRoomId: roomId },
    onData: ({ data }) => {
      const t = data.data?.onTypingStarted;
      if (!t || t.userId === meId) return;
      setTypists((list) => [
        ...list.filter((x) => x.userId !== t.userId),
        { userId: t.userId, userName: t.userName, until: Date.now() + 10_000 },
      ]);
    },
  });
  useSubscription(OnTypingEndedDocument, {
    variables: { chatRoomId: roomId },
    onData: ({ data }) => {
      const t = data.data?.onTypingEnded;
      if (t) setTypists((list) => list.filter((x) => x.userId !== t.userId));
    },
  });
  useEffect(() => {
    if (typists.length === 0) return;
    const timer = setInterval(() => {
      const now = Date.now();
      setTypists((list) => (list.some((t) => t.until <= now) ? list.filter((t) => t.until > now) : list));
    }, 1000);
    return () => clearInterval(timer);
  }, [typists.length]);
  // A message from someone ends their typing line at once.
  useEffect(() => {
    if (lastLive) setTypists((list) => list.filter((t) => t.userId !== lastLive.author.id));
  }, [lastLive]);

  const nextToken = history.data?.messagesByRoom.nextToken ?? null;
  const fetchMore = history.fetchMore;
  const loadingOlder = useRef(false);
  const loadOlder = useCallback(async () => {
    if (!nextToken || loadingOlder.current) return;
    loadingOlder.current = true;
    try {
      await fetchMore({ variables: { nextToken } });
    } finally {
      loadingOlder.current = false;
    }
  }, [fetchMore, nextToken]);

  return {
    items: items ?? [],
    loaded,
    error: history.error,
    hasOlder: nextToken !== null,
    loadOlder,
    typists,
    lastLive,
  };
}
