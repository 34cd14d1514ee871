import type { FieldFunctionOptions, Reference } from "@apollo/client/cache";
import { describe, expect, it } from "vitest";
import { mentionQuery, roomTitle } from "./format";
import { mergeMessagePages } from "./messageCache";
import { addPending, confirmPending, pendingIn, updatePending } from "./pending";
import { addReaction, ReactionLedger, removeReaction, type Group } from "./reactions";
import { restartDelay } from "./useLive";

const seqs: Record<string, number> = { "Message:a": 1, "Message:b": 2, "Message:c": 3, "Message:d": 4 };
const ref = (id: string): Reference => ({ __ref: `Message:${id}` });
const options = (nextToken?: string) =>
  ({
    args: nextToken ? { chatRoomId: "r", nextToken } : { chatRoomId: "r" },
    readField: (_field: string, from: Reference) => seqs[from.__ref],
  }) as unknown as FieldFunctionOptions;

describe("mergeMessagePages", () => {
  it("keeps each message once, newest first, across overlapping pages and live writes", () => {
    const first = mergeMessagePages(undefined, { items: [ref("c"), ref("b")], nextToken: "t1" }, options());
    const older = mergeMessagePages(first, { items: [ref("b"), ref("a")], nextToken: null }, options("t1"));
    expect(older.items.map((r) => r.__ref)).toEqual(["Message:c", "Message:b", "Message:a"]);
    expect(older.nextToken).toBeNull();
    const live = mergeMessagePages(older, { items: [ref("d"), ref("c")], nextToken: "t9" }, options());
    expect(live.items.map((r) => r.__ref)).toEqual(["Message:d", "Message:c", "Message:b", "Message:a"]);
    expect(live.nextToken).toBeNull(); // a refetch of the newest page keeps how far back we are
  });
});

describe("reactions", () => {
  const none: Group[] = [];
  it("adds, counts and removes, and ignores a repeat of my own", () => {
    let groups = addReaction(none, "👍", false);
    groups = addReaction(groups, "👍", true);
    groups = addReaction(groups, "👍", true);
    expect(groups).toEqual([{ __typename: "ReactionGroup", emoji: "👍", count: 2, reactedByMe: true }]);
    groups = removeReaction(groups, "👍", true);
    expect(groups[0]).toMatchObject({ count: 1, reactedByMe: false });
    groups = removeReaction(groups, "👍", false);
    expect(groups).toEqual([]);
  });
});

describe("ReactionLedger", () => {
  it("applies add, remove and add again, but not a repeated event", () => {
    const ledger = new ReactionLedger();
    expect(ledger.accept("r:m:u:👍", true)).toBe(true);
    expect(ledger.accept("r:m:u:👍", true)).toBe(false);
    expect(ledger.accept("r:m:u:👍", false)).toBe(true);
    expect(ledger.accept("r:m:u:👍", true)).toBe(true);
    expect(ledger.accept("r:m:v:👍", true)).toBe(true);
  });
});

describe("restartDelay", () => {
  it("backs off from about a second to at most half a minute", () => {
    expect(restartDelay(0, 0.5)).toBe(1_000);
    expect(restartDelay(3, 0.5)).toBe(8_000);
    expect(restartDelay(40, 1)).toBe(37_500);
    expect(restartDelay(40, 0)).toBeLessThanOrEqual(30_000);
  });
});

describe("mentionQuery", () => {
  it("finds the mention being typed before the caret", () => {
    expect(mentionQuery("hi @an", 6)).toEqual({ start: 3, query: "an" });
    expect(mentionQuery("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionQuery("mail a@b", 8)).toBeNull();
    expect(mentionQuery("hi @ann there", 13)).toBeNull();
  });
});

describe("roomTitle", () => {
  it("names a direct chat by the other person", () => {
    const members = { items: [{ id: "me", username: "me", displayName: "Me" }, { id: "o", username: "ann", displayName: "" }] };
    expect(roomTitle({ name: "dm", isDirect: true, members }, "me")).toBe("ann");
    expect(roomTitle({ name: "General", isDirect: false, members }, "me")).toBe("General");
  });
});

describe("pending messages", () => {
  it("are confirmed once and keep their clientId through a failure", () => {
    addPending({ clientId: "c1", roomId: "r1", content: "hi", replyToId: null, createdAt: "", status: "sending" });
    updatePending("r1", "c1", { status: "failed", error: "offline" });
    expect(pendingIn("r1")).toMatchObject([{ clientId: "c1", status: "failed" }]);
    confirmPending("r1", "c1");
    confirmPending("r1", "c1");
    expect(pendingIn("r1")).toEqual([]);
  });
});
