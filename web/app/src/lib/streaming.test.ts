import { describe, expect, it } from "vitest";
import { OnMessageUpdatedDocument, RoomHistoryDocument } from "../gql/graphql";
import { createCache } from "./apollo";
import { StreamLedger } from "./streaming";

const reply = (content: string, isStreaming: boolean) => ({ __typename: "Message" as const, id: "r", content, isStreaming });

describe("StreamLedger", () => {
  it("passes a reply's updates through as they grow and finish", () => {
    const ledger = new StreamLedger();
    for (const [content, streaming] of [["", true], ["Hello ", true], ["Hello from", true], ["Hello from the model.", false]] as const) {
      const update = reply(content, streaming);
      expect(ledger.message(update)).toBe(update);
    }
  });

  it("never puts a finished reply back to streaming, nor a growing one back to a shorter text", () => {
    const ledger = new StreamLedger();
    ledger.message(reply("Hello from the", true));
    expect(ledger.message(reply("Hello ", true))).toEqual(reply("Hello from the", true)); // an older copy
    ledger.message(reply("Hello from the model.\n\n(Stopped.)", false));
    expect(ledger.message(reply("Hello from the mod", true))).toEqual(reply("Hello from the model.\n\n(Stopped.)", false));
    // a finished copy is always current (a deletion empties it)
    expect(ledger.message(reply("", false))).toEqual(reply("", false));
  });

  it("remembers the assistant's finished replies even when it never saw them stream", () => {
    const ledger = new StreamLedger();
    const finished = { ...reply("All done.", false), author: { isBot: true } };
    ledger.message(finished);
    expect(ledger.message({ ...reply("All", true), author: { isBot: true } })).toEqual(finished);
    // people's messages are not followed
    ledger.message({ ...reply("hi", false), id: "p", author: { isBot: false } });
    expect(ledger.message({ ...reply("h", true), id: "p" })).toEqual({ ...reply("h", true), id: "p" });
  });

  it("brings a whole result up to date, and returns the same objects when nothing changed", () => {
    const ledger = new StreamLedger();
    ledger.message(reply("The", true));
    ledger.message(reply("The whole answer.", false));
    const stale = { messagesByRoom: { items: [reply("The who", true), { __typename: "Message", id: "q", content: "hi", isStreaming: false }] } };
    const fixed = ledger.reconcile(stale);
    expect(fixed.messagesByRoom.items[0]).toEqual(reply("The whole answer.", false));
    expect(fixed.messagesByRoom.items[1]).toBe(stale.messagesByRoom.items[1]);
    const current = { messagesByRoom: { items: [reply("The whole answer.", false)] } };
    expect(ledger.reconcile(current)).toBe(current);
  });
});

describe("a streaming reply in the cache", () => {
  it("grows in place: each update replaces the text of the one message in the room's history", () => {
    const cache = createCache();
    const author = { __typename: "User" as const, id: "bot", username: "assistant", displayName: "Assistant", avatarUrl: null, isBot: true };
    const message = {
      __typename: "Message" as const,
      id: "r",
      chatRoomId: "room",
      content: "",
      messageType: "TEXT" as const,
      seq: 2,
      cursor: "c2",
      clientId: null,
      createdAt: "2026-12-05T10:00:02Z",
      editedAt: null,
      isEdited: false,
      isDeleted: false,
      replyToId: null,
      isStreaming: true,
      replyCount: 0,
      author,
      reactions: [],
      attachments: [],
    };
    cache.writeQuery({
      query: RoomHistoryDocument,
      variables: { chatRoomId: "room" },
      data: { messagesByRoom: { __typename: "MessageConnection", items: [message], nextToken: null } },
    });
    const seen: string[] = [];
    for (const [content, isStreaming] of [["Hel", true], ["Hello wor", true], ["Hello world.", false]] as const) {
      // as Apollo Client writes each onMessageUpdated event
      cache.write({
        query: OnMessageUpdatedDocument,
        dataId: "ROOT_SUBSCRIPTION",
        variables: { chatRoomId: "room" },
        result: {
          onMessageUpdated: { __typename: "Message", id: "r", content, isEdited: false, editedAt: null, isDeleted: false, isStreaming, replyCount: 0 },
        },
      });
      const items = cache.readQuery({ query: RoomHistoryDocument, variables: { chatRoomId: "room" } })?.messagesByRoom.items ?? [];
      expect(items).toHaveLength(1);
      seen.push(`${items[0]?.content}|${items[0]?.isStreaming}`);
    }
    expect(seen).toEqual(["Hel|true", "Hello wor|true", "Hello world.|false"]);
  });
});
