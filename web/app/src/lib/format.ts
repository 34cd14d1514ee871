/** Dates and names as people read them. */

const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric", year: "numeric" });

export function formatTime(iso: string): string {
  return time.format(new Date(iso));
}

export function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function formatDay(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const today = dayKey(now.toISOString());
  const yesterday = dayKey(new Date(now.getTime() - 86_400_000).toISOString());
  const key = dayKey(iso);
  if (key === today) return "Today";
  if (key === yesterday) return "Yesterday";
  return day.format(d);
}

export interface Named {
  id: string;
  username: string;
  displayName: string;
}

export function nameOf(user: Named): string {
  return user.displayName || user.username;
}

/** A direct chat is named by the other person; a group by its own name. */
export function roomTitle(
  room: { name: string; isDirect: boolean; members?: { items: Named[] } | null },
  meId: string,
): string {
  if (!room.isDirect) return room.name;
  const other = room.members?.items.find((m) => m.id !== meId);
  return other ? nameOf(other) : room.name;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? (parts[0]?.[0] ?? "") + (parts[1]?.[0] ?? "") : name.slice(0, 2);
  return letters.toUpperCase();
}

/** The @mention being typed just before the caret, if any. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const match = /(^|\s)@([\w.-]{0,32})$/.exec(before);
  if (!match) return null;
  const query = match[2] ?? "";
  return { start: caret - query.length - 1, query };
}

export function newClientId(): string {
  return crypto.randomUUID();
}
