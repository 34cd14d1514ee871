/**
 * A room's live state: history pages from the cache, new messages from `onMessageCreated`
 * resumed with `after` (the newest cursor seen) whenever the socket comes back, and edits,
 * deletions, reactions and typing from their own subscriptions. After a drop the history's
 * newest page is refetched (see Shell), which brings edits, deletions and reactions missed.
 *
 * Nothing is lost or doubled across a network drop: the server replays everything after the
 * cursor, and the cache keeps each message once (by id, ordered by seq).
 */
import type { ApolloCache } from "@apollo/client";
import { useApolloClient, useQuery } from "@apollo/client/react";
import { useCallback, useEffect, useRef, useState } from "react";
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
import { confirmPending } from "./pending";
import { addReaction, ReactionLedger, removeReaction, type Group } from "./reactions";
import { useLive } from "./useLive";

export type HistoryMessage = RoomHistoryQuery["messagesByRoom"]["items"][number];
type LiveMessage = OnMessageCreatedSubscription["onMessageCreated"];

/** Ids of messages already put into each cache, so that a reply is counted once on its parent. */
const stored = new WeakMap<ApolloCache, Set<string>>();

/**
 * Put a message into its room's history (and its thread), once: the mutation's answer and the
 * live feed both bring one's own messages, and a resubscription replays. A message already in
 * the list is left as it is (its reactions and edits may be newer than this copy).
 */
export function storeMessage(cache: ApolloCache, message: LiveMessage): void {
  let seen = stored.get(cache);
  if (!seen) stored.set(cache, (seen = new Set()));
  const known = seen.has(message.id);
  seen.add(message.id);
  const id = cache.identify({ __typename: "Message", id: message.id });
  let inHistory = false;
  cache.updateQuery({ query: RoomHistoryDocument, variables: { chatRoomId: message.chatRoomId } }, (data) => {
    inHistory = data?.messagesByRoom.items.some((m) => m.id === message.id) ?? false;
    if (!data || inHistory) return undefined;
    const full: HistoryMessage = { ...message, reactions: [] };
    return { messagesByRoom: { ...data.messagesByRoom, items: [full, ...data.messagesByRoom.items] } };
  });
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
  if (message.replyToId) {
    let inThread = false;
    cache.updateQuery({ query: ThreadDocument, variables: { id: message.replyToId } }, (data) => {
      if (!data?.getMessage) return undefined;
      const replies = data.getMessage.replies;
      inThread = replies.items.some((r) => r.id === message.id);
      if (inThread) return undefined;
      return { getMessage: { ...data.getMessage, replies: { ...replies, items: [...replies.items, message] } } };
    });
    const parent = cache.identify({ __typename: "Message", id: message.replyToId });
    if (parent && !known && !inHistory && !inThread) cache.modify({ id: parent, fields: { replyCount: (n: number) => n + 1 } });
  }
}

export interface Typist {
  userId: string;
  userName: string;
  until: number;
}

export function useRoomLive(roomId: string, meId: string, startCursor: string | null) {
  const client = useApolloClient();
  const history = useQuery(RoomHistoryDocument, {
    variables: { chatRoomId: roomId },
    fetchPolicy: "cache-and-network",
    nextFetchPolicy: "cache-first",
  });
  const items = history.data?.messagesByRoom.items;
  const loaded = history.data !== undefined || (history.error !== undefined && !history.loading);
  const [lastLive, setLastLive] = useState<LiveMessage | null>(null);

  // New messages: after the newest one this view holds (an empty room resumes from its start),
  // read afresh each time the subscription is (re)sent.
  const resumeFrom = useRef<string | null>(null);
  resumeFrom.current = items?.[0]?.cursor ?? startCursor;
  useLive(OnMessageCreatedDocument, {
    variables: { chatRoomId: roomId },
    latest: () => ({ after: resumeFrom.current }),
    skip: !loaded || startCursor === null,
    onData: (data) => {
      storeMessage(client.cache, data.onMessageCreated);
      setLastLive(data.onMessageCreated);
    },
  });

  useLive(OnMessageUpdatedDocument, { variables: { chatRoomId: roomId } });
  useLive(OnMessageDeletedDocument, { variables: { chatRoomId: roomId } });

  const ledger = useRef(new ReactionLedger());
  const applyReaction = useCallback(
    (event: { id: string; messageId: string; emoji: string; userId: string }, added: boolean) => {
      if (!ledger.current.accept(event.id, added)) return;
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
  useLive(OnReactionAddedDocument, {
    variables: { chatRoomId: roomId },
    onData: (data) => applyReaction(data.onReactionAdded, true),
  });
  useLive(OnReactionRemovedDocument, {
    variables: { chatRoomId: roomId },
    onData: (data) => applyReaction(data.onReactionRemoved, false),
  });

  const [typists, setTypists] = useState<Typist[]>([]);
  useLive(OnTypingStartedDocument, {
    variables: { chatRoomId: roomId },
    onData: (data) => {
      const t = data.onTypingStarted;
      if (t.userId === meId) return;
      setTypists((list) => [
        ...list.filter((x) => x.userId !== t.userId),
        { userId: t.userId, userName: t.userName, until: Date.now() + 10_000 },
      ]);
    },
  });
  useLive(OnTypingEndedDocument, {
    variables: { chatRoomId: roomId },
    onData: (data) => {
      const t = data.onTypingEnded;
      setTypists((list) => list.filter((x) => x.userId !== t.userId));
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
