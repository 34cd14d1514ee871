import { describe, expect, it } from "vitest";
import {
  QUESTION_TTL_MS,
  canStopReply,
  insertMention,
  mentionedUsernames,
  rankMentions,
  replyAskers,
  type ConversationMessage,
} from "./assistant";

const me = { id: "me", username: "me", displayName: "Me Myself" };
const ann = { id: "a", username: "ann", displayName: "Ann Example" };
const bob = { id: "b", username: "bob", displayName: "Bob Stone" };
const sam = { id: "s", username: "sam", displayName: "Sam Assange" };
const bot = { id: "x", username: "assistant", displayName: "Assistant", isBot: true };
const members = [me, sam, bob, ann, bot];

const names = (list: { username: string }[]) => list.map((m) => m.username);

describe("rankMentions", () => {
  it("offers the assistant first when nothing is typed yet, never oneself", () => {
    expect(names(rankMentions(members, "", "me"))).toEqual(["assistant", "ann", "bob", "sam"]);
  });

  it("ranks a username prefix over a word of the name over anywhere, the assistant first among equals", () => {
    expect(names(rankMentions(members, "ass", "me"))).toEqual(["assistant", "sam"]);
    expect(names(rankMentions(members, "a", "me"))).toEqual(["assistant", "ann", "sam"]);
    expect(names(rankMentions(members, "st", "me"))).toEqual(["bob", "assistant"]);
    expect(names(rankMentions(members, "STONE", "me"))).toEqual(["bob"]);
    expect(rankMentions(members, "zed", "me")).toEqual([]);
  });

  it("keeps to the limit", () => {
    const many = Array.from({ length: 10 }, (_, i) => ({ id: `${i}`, username: `user${i}`, displayName: `User ${i}` }));
    expect(rankMentions([...many, bot], "", "me", 3).map((m) => m.username)).toEqual(["assistant", "user0", "user1"]);
  });
});

describe("insertMention", () => {
  it("replaces what was typed after @ with the username and one space", () => {
    expect(insertMention("hi @ass", 3, 7, "assistant")).toEqual({ text: "hi @assistant ", caret: 14 });
    expect(insertMention("@", 0, 1, "bob")).toEqual({ text: "@bob ", caret: 5 });
  });

  it("keeps the text after the caret, without a second space", () => {
    expect(insertMention("hi @an there", 3, 6, "ann")).toEqual({ text: "hi @ann there", caret: 8 });
    expect(insertMention("@b, hello", 0, 2, "bob")).toEqual({ text: "@bob , hello", caret: 5 });
  });
});

describe("mentionedUsernames", () => {
  it("reads mentions as the server does", () => {
    expect(mentionedUsernames("@Assistant what is up? cc @bob.")).toEqual(["assistant", "bob"]);
    expect(mentionedUsernames("mail me@example.com or @@ann, @ab")).toEqual([]);
    expect(mentionedUsernames("(@assistant) and @assistant again")).toEqual(["assistant"]);
  });
});

let seq = 0;
function msg(author: { id: string; isBot?: boolean }, content: string, extra: Partial<ConversationMessage> = {}): ConversationMessage {
  seq += 1;
  return {
    id: `m${seq}`,
    seq,
    createdAt: new Date(Date.UTC(2026, 11, 5, 10, 0, seq)).toISOString(),
    content,
    replyToId: null,
    isDeleted: false,
    author: { id: author.id, isBot: author.isBot ?? false },
    ...extra,
  };
}

describe("replyAskers", () => {
  const room = { botUsernames: ["assistant"], isDirect: false };

  it("gives each reply to the oldest question still waiting in its conversation", () => {
    const q1 = msg(ann, "@assistant first?");
    const chat = msg(bob, "just talking about the assistant");
    const q2 = msg(bob, "@assistant second?");
    const r1 = msg(bot, "");
    const inThread = msg(sam, "@assistant in the thread", { replyToId: q1.id });
    const r2 = msg(bot, "answer two");
    const r3 = msg(bot, "thread answer", { replyToId: q1.id });
    const askers = replyAskers([r3, r2, inThread, r1, q2, chat, q1], room); // any order
    expect(Object.fromEntries(askers)).toEqual({ [r1.id]: "a", [r2.id]: "b", [r3.id]: "s" });
  });

  it("counts every message in a direct chat with the assistant, and no reply without a question", () => {
    const hello = msg(ann, "hello there");
    const r1 = msg(bot, "Hello!");
    const r2 = msg(bot, "a reply whose question is in an older page");
    expect(Object.fromEntries(replyAskers([hello, r1, r2], { botUsernames: ["assistant"], isDirect: true }))).toEqual({
      [r1.id]: "a",
    });
    expect(replyAskers([hello, r1], { botUsernames: [], isDirect: true }).size).toBe(0);
  });

  it("forgets questions never answered, and deleted ones in a room", () => {
    const old = msg(ann, "@assistant are you there?", { createdAt: new Date(Date.UTC(2026, 11, 5, 9, 0)).toISOString() });
    const gone = msg(sam, "", { isDeleted: true });
    const q = msg(bob, "@assistant now?");
    const reply = msg(bot, "yes", { createdAt: new Date(Date.parse(q.createdAt) + QUESTION_TTL_MS / 2).toISOString() });
    expect(Object.fromEntries(replyAskers([old, gone, q, reply], room))).toEqual({ [reply.id]: "b" });
  });
});

describe("canStopReply", () => {
  const reply = { isStreaming: true, author: { isBot: true } };
  const viewer = { id: "a", role: "USER" };

  it("offers Stop to the asker and to room or global moderators, while the reply streams", () => {
    expect(canStopReply(reply, "a", viewer, "MEMBER")).toBe(true);
    expect(canStopReply(reply, "b", viewer, "MEMBER")).toBe(false);
    expect(canStopReply(reply, undefined, viewer, "ADMIN")).toBe(true);
    expect(canStopReply(reply, undefined, viewer, "OWNER")).toBe(true);
    expect(canStopReply(reply, undefined, { id: "a", role: "MODERATOR" }, null)).toBe(true);
    expect(canStopReply({ ...reply, isStreaming: false }, "a", viewer, "OWNER")).toBe(false);
    expect(canStopReply({ isStreaming: true, author: { isBot: false } }, "a", viewer, "OWNER")).toBe(false);
  });
});
