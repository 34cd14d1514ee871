import { useMutation } from "@apollo/client/react";
import { useEffect, useId, useLayoutEffect, useRef, useState, type ClipboardEvent, type KeyboardEvent } from "react";
import { StartTypingDocument, StopTypingDocument } from "../gql/graphql";
import { insertMention, rankMentions } from "../lib/assistant";
import { canSend, uploadsRunning } from "../lib/files";
import { mentionQuery } from "../lib/format";
import { useSend } from "../lib/useSend";
import type { Uploads } from "../lib/useUploads";
import { BotBadge } from "./BotBadge";
import { Icon } from "./Icon";
import { UploadTray } from "./UploadTray";

interface Member {
  id: string;
  username: string;
  displayName: string;
  isBot?: boolean;
}

const TYPING_REFRESH_MS = 5_000;
const MAX_LENGTH = 4000;

/**
 * Enter sends, Shift+Enter breaks the line; @ suggests members (the assistant first), picked with
 * the arrow keys and Enter or Tab, or dismissed with Escape; typing is announced to others.
 * With `uploads`, files can be attached (button, paste, or a drop handled by the parent): they
 * upload at once, and Send waits until none is still on its way.
 */
export function Composer({
  roomId,
  members,
  meId,
  label,
  placeholder,
  replyToId = null,
  uploads,
}: {
  roomId: string;
  members: Member[];
  meId: string;
  label: string;
  placeholder?: string | undefined;
  replyToId?: string | null;
  uploads?: Uploads;
}) {
  const [text, setText] = useState("");
  const [caret, setCaret] = useState(0);
  const [activeIndex, setActive] = useState(0);
  // Escape closes the suggestions for the mention being typed (they open again for another).
  const [dismissedAt, setDismissedAt] = useState<number | null>(null);
  const { send } = useSend(roomId);
  const [startTyping] = useMutation(StartTypingDocument);
  const [stopTyping] = useMutation(StopTypingDocument);
  const typingSince = useRef(0);
  const input = useRef<HTMLTextAreaElement>(null);
  // Where the caret goes once a chosen mention is in the box: before the next keystroke.
  const caretAfterRender = useRef<number | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const listId = useId();
  const items = uploads?.items ?? [];
  const sendable = canSend(text, items);

  const mention = mentionQuery(text, caret);
  const suggestions = mention && mention.start !== dismissedAt ? rankMentions(members, mention.query, meId) : [];
  const open = suggestions.length > 0;
  const active = Math.min(activeIndex, Math.max(0, suggestions.length - 1)); // the list may shrink

  function typing(now: string) {
    if (!now.trim()) return stopped();
    if (Date.now() - typingSince.current > TYPING_REFRESH_MS) {
      typingSince.current = Date.now();
      void startTyping({ variables: { chatRoomId: roomId } }).catch(() => undefined);
    }
  }

  function stopped() {
    if (!typingSince.current) return;
    typingSince.current = 0;
    void stopTyping({ variables: { chatRoomId: roomId } }).catch(() => undefined);
  }

  useEffect(() => () => stopped(), []); // eslint-disable-line react-hooks/exhaustive-deps

  useLayoutEffect(() => {
    const position = caretAfterRender.current;
    if (position === null) return;
    caretAfterRender.current = null;
    input.current?.setSelectionRange(position, position);
  });

  function submit() {
    if (!sendable) return;
    const content = text.trim();
    send(content, replyToId, uploads?.take() ?? []);
    setText("");
    setCaret(0);
    typingSince.current = 0; // sending ends the typing indicator on the server
  }

  function choose(member: Member) {
    if (!mention) return;
    const next = insertMention(text, mention.start, caret, member.username);
    setText(next.text);
    setCaret(next.caret);
    setActive(0);
    caretAfterRender.current = next.caret;
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (open) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        setActive((active + step + suggestions.length) % suggestions.length);
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        const member = suggestions[active];
        if (member) {
          event.preventDefault();
          choose(member);
          return;
        }
      }
      if (event.key === "Escape") {
        event.preventDefault();
        setDismissedAt(mention?.start ?? null);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  // Files on the clipboard (a screenshot, files copied in a file manager) are attached.
  function onPaste(event: ClipboardEvent<HTMLTextAreaElement>) {
    const files = [...event.clipboardData.files];
    if (!uploads || files.length === 0) return;
    event.preventDefault();
    uploads.add(files);
  }

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {open && (
        <ul id={listId} role="listbox" aria-label="Mention suggestions" className="mentions">
          {suggestions.map((m, i) => (
            <li
              key={m.id}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              onMouseEnter={() => setActive(i)}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(m);
              }}
            >
              {m.displayName} <span className="muted">@{m.username}</span>
              {m.isBot && <BotBadge />}
            </li>
          ))}
        </ul>
      )}
      {uploads && <UploadTray uploads={uploads} />}
      {uploads && (
        <>
          <button
            type="button"
            className="attach"
            aria-label="Attach files"
            title="Attach files"
            onClick={() => fileInput.current?.click()}
          >
            <Icon name="attach" />
          </button>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            onChange={(e) => {
              uploads.add([...(e.target.files ?? [])]);
              e.target.value = ""; // the same file may be picked again
            }}
          />
        </>
      )}
      <textarea
        ref={input}
        aria-label={label}
        placeholder={placeholder ?? (replyToId ? "Reply in thread" : "Write a message")}
        rows={1}
        maxLength={MAX_LENGTH}
        value={text}
        aria-autocomplete="list"
        aria-controls={open ? listId : undefined}
        aria-activedescendant={open ? `${listId}-${active}` : undefined}
        onChange={(e) => {
          setText(e.target.value);
          setCaret(e.target.selectionStart);
          if (!mentionQuery(e.target.value, e.target.selectionStart)) setDismissedAt(null);
          typing(e.target.value);
        }}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={onKeyDown}
        onPaste={onPaste}
        onBlur={stopped}
      />
      <button type="submit" className="primary" disabled={!sendable} title={uploadsRunning(items) ? "Waiting for uploads" : undefined}>
        Send
      </button>
    </form>
  );
}
