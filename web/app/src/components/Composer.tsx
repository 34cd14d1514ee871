import { useMutation } from "@apollo/client/react";
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { StartTypingDocument, StopTypingDocument } from "../gql/graphql";
import { mentionQuery } from "../lib/format";
import { useSend } from "../lib/useSend";

interface Member {
  id: string;
  username: string;
  displayName: string;
}

const TYPING_REFRESH_MS = 5_000;
const MAX_LENGTH = 4000;

/** Enter sends, Shift+Enter breaks the line; @ suggests members; typing is announced to others. */
export function Composer({
  roomId,
  members,
  meId,
  label,
  replyToId = null,
}: {
  roomId: string;
  members: Member[];
  meId: string;
  label: string;
  replyToId?: string | null;
}) {
  const [text, setText] = useState("");
  const [caret, setCaret] = useState(0);
  const [activeIndex, setActive] = useState(0);
  const { send } = useSend(roomId);
  const [startTyping] = useMutation(StartTypingDocument);
  const [stopTyping] = useMutation(StopTypingDocument);
  const typingSince = useRef(0);
  const input = useRef<HTMLTextAreaElement>(null);
  const listId = useId();

  const mention = mentionQuery(text, caret);
  const suggestions = mention
    ? members
        .filter((m) => m.id !== meId)
        .filter(
          (m) =>
            m.username.startsWith(mention.query.toLowerCase()) ||
            m.displayName.toLowerCase().includes(mention.query.toLowerCase()),
        )
        .slice(0, 6)
    : [];
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

  function submit() {
    const content = text.trim();
    if (!content) return;
    send(content, replyToId);
    setText("");
    setCaret(0);
    typingSince.current = 0; // sending ends the typing indicator on the server
  }

  function choose(member: Member) {
    if (!mention) return;
    const next = `${text.slice(0, mention.start)}@${member.username} ${text.slice(caret)}`;
    const position = mention.start + member.username.length + 2;
    setText(next);
    setCaret(position);
    setActive(0);
    requestAnimationFrame(() => input.current?.setSelectionRange(position, position));
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
        setCaret(-1);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
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
              onMouseDown={(e) => {
                e.preventDefault();
                choose(m);
              }}
            >
              {m.displayName} <span className="muted">@{m.username}</span>
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={input}
        aria-label={label}
        placeholder={replyToId ? "Reply in thread" : "Write a message"}
        rows={1}
        maxLength={MAX_LENGTH}
        value={text}
        aria-autocomplete="list"
        aria-controls={open ? listId : undefined}
        aria-activedescendant={open ? `${listId}-${active}` : undefined}
        onChange={(e) => {
          setText(e.target.value);
          setCaret(e.target.selectionStart);
          typing(e.target.value);
        }}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={onKeyDown}
        onBlur={stopped}
      />
      <button type="submit" className="primary" disabled={!text.trim()}>
        Send
      </button>
    </form>
  );
}
