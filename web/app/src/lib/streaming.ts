/**
 * Replies that stream (the assistant's) only ever grow, then finish once. Their updates come in
 * order over the socket, but a query or mutation answered over HTTP may carry an older copy: a
 * history refetch read while the reply was still being written, landing after the update that
 * finished it, would put it back to "writing" for good, or a shorter text would flicker in.
 *
 * The ledger remembers the newest state of each streaming message seen in any result, and
 * every result passes through it on its way to the cache (see apollo.ts): an older copy is
 * brought up to date before it is written.
 */

interface Known {
  content: string;
  streaming: boolean;
}

interface StreamedMessage {
  __typename: "Message";
  id: string;
  content: string;
  isStreaming: boolean;
}

function isStreamed(value: unknown): value is StreamedMessage {
  const v = value as Partial<StreamedMessage> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    v.__typename === "Message" &&
    typeof v.id === "string" &&
    typeof v.content === "string" &&
    typeof v.isStreaming === "boolean"
  );
}

function isBotAuthored(value: object): boolean {
  const author = (value as { author?: { isBot?: unknown } }).author;
  return author?.isBot === true;
}

/** Whether `older` is an earlier state of a text that became `newer` (trailing space aside). */
function earlier(older: string, newer: string): boolean {
  return older.length < newer.length && newer.startsWith(older.trimEnd());
}

export class StreamLedger {
  private known = new Map<string, Known>();

  /** One message as it should be written: never back to streaming, never shorter while streaming. */
  message<T extends StreamedMessage>(message: T): T {
    const known = this.known.get(message.id);
    if (known && !known.streaming) {
      if (message.isStreaming) return { ...message, content: known.content, isStreaming: false };
      known.content = message.content; // finished copies (a deletion empties it) are current
      return message;
    }
    if (message.isStreaming) {
      if (known && earlier(message.content, known.content)) return { ...message, content: known.content };
      this.known.set(message.id, { content: message.content, streaming: true });
      return message;
    }
    // Finished: remembered if it streamed here or is the assistant's (an older copy may follow).
    if (known || isBotAuthored(message)) this.known.set(message.id, { content: message.content, streaming: false });
    return message;
  }

  /** A result's data with every streamed message in it brought up to date (the same objects when nothing changed). */
  reconcile<T>(data: T): T {
    return this.walk(data) as T;
  }

  private walk(value: unknown): unknown {
    if (Array.isArray(value)) {
      let changed = false;
      const items = value.map((item) => {
        const next = this.walk(item);
        changed ||= next !== item;
        return next;
      });
      return changed ? items : value;
    }
    if (typeof value !== "object" || value === null) return value;
    let changed = false;
    const copy: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      const next = this.walk(field);
      changed ||= next !== field;
      copy[key] = next;
    }
    const current = changed ? copy : value;
    return isStreamed(current) ? this.message(current) : current;
  }
}
