/**
 * How pages of messages merge in the cache: one list per room (newest first) or per thread
 * (oldest first), each message once (pages, live events and refetches overlap), ordered by the
 * server's `seq`.
 */
import type { FieldFunctionOptions, Reference } from "@apollo/client/cache";

interface Page {
  items: Reference[];
  nextToken: string | null;
  __typename?: string;
}

function mergePages(direction: 1 | -1) {
  return (existing: Page | undefined, incoming: Page, { args, readField }: FieldFunctionOptions): Page => {
    const seen = new Map<string, Reference>();
    for (const item of existing?.items ?? []) seen.set(item.__ref, item);
    for (const item of incoming.items) seen.set(item.__ref, item);
    const items = [...seen.values()].sort(
      (a, b) => direction * ((readField<number>("seq", a) ?? 0) - (readField<number>("seq", b) ?? 0)),
    );
    // Further pages move the cursor on; the first page (a refetch or a live write) keeps it.
    const nextToken = args?.["nextToken"] || !existing ? incoming.nextToken : existing.nextToken;
    return { ...incoming, items, nextToken };
  };
}

/** A room's history: newest first, older pages appended. */
export const mergeMessagePages = mergePages(-1);

/** A thread's replies: oldest first, newer pages appended. */
export const mergeReplyPages = mergePages(1);
