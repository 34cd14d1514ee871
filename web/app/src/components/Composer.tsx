import { useMutation } from "@apollo/client/react";
import { useEffect, useId, useRef, useState, type ClipboardEvent, type KeyboardEvent } from "react";
import { StartTypingDocument, StopTypingDocument } from "../gql/graphql";
import { canSend, uploadsRunning } from "../lib/files";
import { mentionQuery } from "../lib/format";
import { useSend } from "../lib/useSend";
import type { Uploads } from "../lib/useUploads";
import { Icon } from "./Icon";
import { UploadTray } from "./UploadTray";

interface Member {
  id: string;
  username: string;
  displayName: string;
}

const TYPING_REFRESH_MS = 5_000;
const MAX_LENGTH = 4000;

/**
 * Enter sends, Shift+Enter breaks the line; @ suggests members; typing is announced to others.
 * With `uploads`, files can be attached (button, paste, or a drop handled by the parent): they
 * upload at once, and Send waits until none is still on its way.
 */
export function Composer({
  roomId,
  members,
  meId,
  label,
  replyToId = null,
  uploads,
}: {
  roomId: string;
  members: Member[];
  meId: string;
  label: string;
  replyToId?: string | null;
  uploads?: Uploads;
}) {
  const [text, setText] = useState("");
  const [caret, setCaret] = useState(0);
  const [activeIndex, setActive] = useState(0);
  const { send } = useSend(roomId);
  const [startTyping] = useMutation(StartTypingDocument);
  const [stopTyping] = useMutation(StopTypingDocument);
  const typingSince = useRef(0);
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const listId = useId();
  const items = uploads?.items ?? [];
  const sendable = canSend(text, items);

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
    if (!sendable) return;
    const content = text.trim();
    send(content, replyToId, uploads?.take() ?? []);
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
        onPaste={onPaste}
        onBlur={stopped}
      />
      <button type="submit" className="primary" disabled={!sendable} title={uploadsRunning(items) ? "Waiting for uploads" : undefined}>
        Send
      </button>
    </form>
  );
}
