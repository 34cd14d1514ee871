import { describe, expect, it } from "vitest";
import { RoomHistoryDocument, ThreadDocument } from "../gql/graphql";
import { createCache } from "./apollo";
import { storeMessage, type HistoryMessage } from "./useRoomLive";

const author = { __typename: "User" as const, id: "u1", username: "ann", displayName: "Ann", avatarUrl: null, isBot: false };

function message(id: string, seq: number, replyToId: string | null = null) {
  return {
    __typename: "Message" as const,
    id,
    chatRoomId: "r1",
    content: `text ${id}`,
    messageType: "TEXT" as const,
    seq,
    cursor: `c${seq}`,
    clientId: null,
    createdAt: `2026-12-05T10:00:0${seq}Z`,
    editedAt: null,
    isEdited: false,
    isDeleted: false,
    replyToId,
    isStreaming: false,
    replyCount: 0,
    author,
    attachments: [],
  };
}

function seeded() {
  const cache = createCache();
  const parent: HistoryMessage = {
    ...message("p", 1),
    reactions: [{ __typename: "ReactionGroup", emoji: "👍", count: 2, reactedByMe: true }],
  };
  cache.writeQuery({
    query: RoomHistoryDocument,
    variables: { chatRoomId: "r1" },
    data: { messagesByRoom: { __typename: "MessageConnection", items: [parent], nextToken: null } },
  });
  const history = () =>
    cache.readQuery({ query: RoomHistoryDocument, variables: { chatRoomId: "r1" } })?.messagesByRoom.items ?? [];
  return { cache, history };
}

describe("storeMessage", () => {
  it("counts a reply once on its parent, however often it arrives", () => {
    const { cache, history } = seeded();
    const reply = message("r", 2, "p");
    storeMessage(cache, reply); // the live feed
    storeMessage(cache, reply); // the mutation's answer
    storeMessage(cache, reply); // a replay after a reconnect
    expect(history().map((m) => m.id)).toEqual(["r", "p"]);
    expect(history().find((m) => m.id === "p")?.replyCount).toBe(1);
  });

  it("adds a live reply to an open thread once", () => {
    const { cache } = seeded();
    cache.writeQuery({
      query: ThreadDocument,
      variables: { id: "p" },
      data: {
        getMessage: {
          __typename: "Message",
          id: "p",
          content: "text p",
          isDeleted: false,
          isStreaming: false,
          createdAt: "2026-12-05T10:00:01Z",
          replyCount: 0,
          author,
          attachments: [],
          replies: { __typename: "MessageConnection", items: [], nextToken: null },
        },
      },
    });
    storeMessage(cache, message("r", 2, "p"));
    storeMessage(cache, message("r", 2, "p"));
    const thread = cache.readQuery({ query: ThreadDocument, variables: { id: "p" } })?.getMessage;
    expect(thread?.replies.items.map((m) => m.id)).toEqual(["r"]);
    expect(thread?.replyCount).toBe(1);
  });

  it("leaves a message it already holds as it is, reactions included", () => {
    const { cache, history } = seeded();
    storeMessage(cache, message("p", 1));
    expect(history()).toHaveLength(1);
    expect(history()[0]?.reactions).toEqual([
      { __typename: "ReactionGroup", emoji: "👍", count: 2, reactedByMe: true },
    ]);
  });
});
