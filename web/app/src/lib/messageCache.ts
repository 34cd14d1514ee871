/**
 * How pages of a room's history merge in the cache: one list per room, newest first, each
 * message once (pages, live events and refetches overlap), ordered by the server's `seq`.
 */
import type { FieldFunctionOptions, Reference } from "@apollo/client/cache";

interface Page {
  items: Reference[];
  nextToken: string | null;
  __typename?: string;
}

export function mergeMessagePages(
  existing: Page | undefined,
  incoming: Page,
  { args, readField }: FieldFunctionOptions,
): Page {
  const seen = new Map<string, Reference>();
  for (const item of existing?.items ?? []) seen.set(item.__ref, item);
  for (const item of incoming.items) seen.set(item.__ref, item);
  const items = [...seen.values()].sort(
    (a, b) => (readField<number>("seq", b) ?? 0) - (readField<number>("seq", a) ?? 0),
  );
  // Older pages move the cursor back; the newest page (a refetch or a live write) keeps it.
  const nextToken = args?.["nextToken"] || !existing ? incoming.nextToken : existing.nextToken;
  return { ...incoming, items, nextToken };
}
