/**
 * Live reaction events applied to a message's grouped reactions. Events carry the reaction's
 * id (stable per message, user and emoji), so the ledger remembers whether each one was last
 * added or removed and an event that repeats that state (a resubscription) is applied once,
 * while add, remove, add again all count. A history refetch replaces the groups wholesale and
 * is the truth.
 */
export interface Group {
  __typename: "ReactionGroup";
  emoji: string;
  count: number;
  reactedByMe: boolean;
}

export function addReaction(groups: readonly Group[], emoji: string, mine: boolean): Group[] {
  const found = groups.find((g) => g.emoji === emoji);
  if (!found) return [...groups, { __typename: "ReactionGroup", emoji, count: 1, reactedByMe: mine }];
  if (mine && found.reactedByMe) return [...groups];
  return groups.map((g) =>
    g.emoji === emoji ? { ...g, count: g.count + 1, reactedByMe: g.reactedByMe || mine } : g,
  );
}

export function removeReaction(groups: readonly Group[], emoji: string, mine: boolean): Group[] {
  const found = groups.find((g) => g.emoji === emoji);
  if (!found || (mine && !found.reactedByMe)) return [...groups];
  return groups
    .map((g) => (g.emoji === emoji ? { ...g, count: g.count - 1, reactedByMe: mine ? false : g.reactedByMe } : g))
    .filter((g) => g.count > 0);
}

export class ReactionLedger {
  private readonly state = new Map<string, boolean>();

  /** True when this event changes what was last applied for its reaction. */
  accept(reactionId: string, added: boolean): boolean {
    if (this.state.get(reactionId) === added) return false;
    this.state.set(reactionId, added);
    return true;
  }
}

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"] as const;
