/**
 * The AI assistant in the app, as pure logic: whom an @mention being typed may mean (the
 * assistant first), how a chosen name goes into the text, and who asked each of the
 * assistant's replies (the one who may stop it, besides the room's admins).
 */

export interface Mentionable {
  id: string;
  username: string;
  displayName: string;
  isBot?: boolean | null;
}

export const MAX_SUGGESTIONS = 6;

/** How well `member` matches what was typed after @: 0 best, null not at all. */
function matchRank(member: Mentionable, query: string): number | null {
  if (member.username.startsWith(query)) return 0;
  const name = member.displayName.toLowerCase();
  if (name.split(/\s+/).some((word) => word.startsWith(query))) return 1;
  if (name.includes(query) || member.username.includes(query)) return 2;
  return null;
}

/**
 * The members an @mention being typed may mean, best first: by how well they match (username
 * prefix, a word of the display name, anywhere), the assistant before people who match as well,
 * then alphabetically. Never oneself.
 */
export function rankMentions<T extends Mentionable>(
  members: readonly T[],
  query: string,
  meId: string,
  limit = MAX_SUGGESTIONS,
): T[] {
  const q = query.toLowerCase();
  const ranked: { member: T; rank: number }[] = [];
  for (const member of members) {
    if (member.id === meId) continue;
    const rank = matchRank(member, q);
    if (rank !== null) ranked.push({ member, rank });
  }
  ranked.sort(
    (a, b) =>
      a.rank - b.rank ||
      Number(!a.member.isBot) - Number(!b.member.isBot) ||
      a.member.username.localeCompare(b.member.username),
  );
  return ranked.slice(0, limit).map((r) => r.member);
}

/**
 * `text` with the @mention typed from `start` up to `caret` replaced by `@username ` (one space
 * after it, not two), and where the caret goes: just after that space.
 */
export function insertMention(text: string, start: number, caret: number, username: string): { text: string; caret: number } {
  const rest = text.slice(caret).replace(/^ /, "");
  const mention = `@${username} `;
  return { text: `${text.slice(0, start)}${mention}${rest}`, caret: start + mention.length };
}

/** The usernames a message mentions, lower-cased, as the server reads them. */
export function mentionedUsernames(content: string): string[] {
  const names: string[] = [];
  for (const match of content.matchAll(/(?<![\w@.])@([a-z0-9_.-]{3,32})/gi)) {
    const name = (match[1] ?? "").toLowerCase().replace(/\.+$/, "");
    if (name.length >= 3 && !names.includes(name)) names.push(name);
  }
  return names;
}

export interface ConversationMessage {
  id: string;
  seq: number;
  createdAt: string;
  content: string;
  replyToId: string | null;
  isDeleted: boolean;
  author: { id: string; isBot: boolean };
}

/** A question older than this when a reply starts was never answered (a rate limit, say). */
export const QUESTION_TTL_MS = 5 * 60_000;

/**
 * Who asked each of the assistant's replies among `messages` (any order, any mix of the room
 * and its threads): reply id → the asker's user id.
 *
 * The server answers each question in the conversation it was asked in (the room, or the
 * thread), one reply per question, in the order they came: a mention of the assistant in a room,
 * any message in a direct chat with it. So, per conversation and in `seq` order, each reply
 * belongs to the oldest question still waiting. A deleted question's text is gone: it is not
 * counted (in a room), and a reply whose question is not loaded has no asker here. The server
 * decides in the end (stopAssistantReply answers FORBIDDEN to anyone else).
 */
export function replyAskers(
  messages: readonly ConversationMessage[],
  { botUsernames, isDirect }: { botUsernames: readonly string[]; isDirect: boolean },
): Map<string, string> {
  const bots = new Set(botUsernames.map((n) => n.toLowerCase()));
  const waiting = new Map<string, ConversationMessage[]>();
  const askers = new Map<string, string>();
  for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
    const key = message.replyToId ?? "";
    const queue = waiting.get(key) ?? [];
    waiting.set(key, queue);
    if (message.author.isBot) {
      const started = Date.parse(message.createdAt);
      while (queue[0] && started - Date.parse(queue[0].createdAt) > QUESTION_TTL_MS) queue.shift();
      const question = queue.shift();
      if (question) askers.set(message.id, question.author.id);
    } else if (isDirect ? bots.size > 0 : !message.isDeleted && mentionedUsernames(message.content).some((n) => bots.has(n))) {
      queue.push(message);
    }
  }
  return askers;
}

/** Whether `viewer` is offered Stop on a reply being written: its asker, or a room or global moderator. */
export function canStopReply(
  reply: { isStreaming: boolean; author: { isBot: boolean } },
  askerId: string | undefined,
  viewer: { id: string; role: string },
  myRole: string | null,
): boolean {
  if (!reply.isStreaming || !reply.author.isBot) return false;
  return (
    askerId === viewer.id ||
    myRole === "OWNER" ||
    myRole === "ADMIN" ||
    viewer.role === "ADMIN" ||
    viewer.role === "MODERATOR"
  );
}
