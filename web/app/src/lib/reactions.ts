/**
 * Live reaction events applied to a message's grouped reactions. Events carry the reaction's
 * id, so one seen twice (a resubscription) is applied once; a history refetch replaces the
 * groups wholesale and is the truth.
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

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"] as const;
