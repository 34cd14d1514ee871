import { Icon } from "./Icon";
import { useMutation } from "@apollo/client/react";
import { memo, useState, type KeyboardEvent, type ReactNode } from "react";
import {
  DeleteMessageDocument,
  EditMessageDocument,
  ReactDocument,
  StopAssistantReplyDocument,
  UnreactDocument,
  type RoomRole,
} from "../gql/graphql";
import { describeError } from "../lib/errors";
import { formatTime, nameOf } from "../lib/format";
import type { PendingMessage } from "../lib/pending";
import { QUICK_REACTIONS } from "../lib/reactions";
import type { SessionUser } from "../lib/session";
import type { HistoryMessage } from "../lib/useRoomLive";
import { Attachments } from "./Attachments";
import { Avatar } from "./Avatar";
import { BotBadge } from "./BotBadge";

/** Text with @mentions marked; a reply still being written ends with a blinking cursor. */
export function MessageText({ text, meUsername, streaming = false }: { text: string; meUsername: string; streaming?: boolean }) {
  const parts: ReactNode[] = [];
  const re = /(^|[^\w@.])@([a-z0-9_.-]{3,32})/gi;
  let last = 0;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    const start = match.index + (match[1]?.length ?? 0);
    parts.push(text.slice(last, start));
    const name = match[2] ?? "";
    parts.push(
      <mark key={start} className={name.toLowerCase() === meUsername ? "mention me" : "mention"}>
        @{name}
      </mark>,
    );
    last = start + name.length + 1;
  }
  parts.push(text.slice(last));
  if (streaming) parts.push(<span key="cursor" className="stream-cursor" aria-hidden="true" />);
  return <p className="text">{parts}</p>;
}

type MessageProps = {
  message: HistoryMessage | (Omit<HistoryMessage, "reactions" | "replyCount" | "messageType" | "editedAt"> & { reactions?: HistoryMessage["reactions"]; replyCount?: number });
  me: SessionUser;
  myRole: RoomRole | null;
  /** Shown only: no reactions to toggle, no actions (a guest's view). */
  readOnly?: boolean;
  /** Offer Stop on an assistant's reply being written (its asker, or a room admin). */
  canStop?: boolean;
  onOpenThread?: ((messageId: string) => void) | undefined;
};

export const MessageItem = memo(function MessageItem({ message, me, myRole, readOnly = false, canStop = false, onOpenThread }: MessageProps) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const [confirming, setConfirming] = useState(false);
  const [picking, setPicking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [edit] = useMutation(EditMessageDocument);
  const [remove] = useMutation(DeleteMessageDocument);
  const [react] = useMutation(ReactDocument);
  const [unreact] = useMutation(UnreactDocument);
  const [stopReply, { loading: stopping }] = useMutation(StopAssistantReplyDocument);

  const mine = message.author.id === me.id;
  const canDelete = mine || myRole === "OWNER" || myRole === "ADMIN" || me.role === "ADMIN" || me.role === "MODERATOR";
  const author = nameOf(message.author);
  const bot = message.author.isBot;
  const streaming = message.isStreaming && !message.isDeleted;

  async function run(action: () => Promise<unknown>) {
    setError(null);
    try {
      await action();
      return true;
    } catch (err) {
      setError(describeError(err));
      return false;
    }
  }

  async function saveEdit() {
    const content = draft.trim();
    if (!content || content === message.content) {
      setEditing(false);
      return;
    }
    if (await run(() => edit({ variables: { input: { id: message.id, content } } }))) setEditing(false);
  }

  function onEditKey(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      void saveEdit();
    } else if (event.key === "Escape") {
      setEditing(false);
      setDraft(message.content);
    }
  }

  function toggleReaction(emoji: string, reacted: boolean) {
    setPicking(false);
    void run(() =>
      reacted
        ? unreact({ variables: { messageId: message.id, emoji } })
        : react({ variables: { input: { messageId: message.id, emoji } } }),
    );
  }

  return (
    <article
      className={`message${mine ? " mine" : ""}${bot ? " bot" : ""}`}
      aria-label={`${author}, ${formatTime(message.createdAt)}`}
      aria-busy={streaming || undefined}
      data-seq={message.seq}
    >
      <Avatar user={message.author} />
      <div className="message-body">
        <div className="message-head">
          <span className="author">{author}</span>
          {bot && <BotBadge />}
          <time dateTime={message.createdAt}>{formatTime(message.createdAt)}</time>
          {message.isEdited && !message.isDeleted && !bot && <span className="muted">(edited)</span>}
        </div>
        {message.isDeleted ? (
          <p className="text tombstone">This message was deleted.</p>
        ) : editing ? (
          <div className="edit">
            <textarea
              aria-label="Edit message"
              value={draft}
              autoFocus
              rows={2}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={onEditKey}
            />
            <div className="edit-actions">
              <button type="button" onClick={() => void saveEdit()} className="primary">
                Save
              </button>
              <button
                type="button"
                onClick={() => {
                  setEditing(false);
                  setDraft(message.content);
                }}
              >
                Cancel
              </button>
            </div>
          </div>
        ) : streaming && !message.content ? (
          <p className="text writing">
            Thinking…<span className="stream-cursor" aria-hidden="true" />
          </p>
        ) : (
          message.content && <MessageText text={message.content} meUsername={me.username} streaming={streaming} />
        )}
        {streaming && canStop && !readOnly && (
          <button
            type="button"
            className="stop"
            disabled={stopping}
            onClick={() => void run(() => stopReply({ variables: { messageId: message.id } }))}
          >
            <span className="stop-icon" aria-hidden="true" />
            Stop<span className="visually-hidden"> reply</span>
          </button>
        )}
        {!message.isDeleted && message.attachments.length > 0 && (
          <Attachments messageId={message.id} attachments={message.attachments} />
        )}
        {message.reactions && message.reactions.length > 0 && !message.isDeleted && (
          <ul className="reactions" aria-label="Reactions">
            {message.reactions.map((group) => (
              <li key={group.emoji}>
                {readOnly ? (
                  <span className="reaction">
                    {group.emoji} <span>{group.count}</span>
                  </span>
                ) : (
                <button
                  type="button"
                  className={group.reactedByMe ? "reaction mine" : "reaction"}
                  aria-pressed={group.reactedByMe}
                  aria-label={`${group.emoji} ${group.count}`}
                  onClick={() => toggleReaction(group.emoji, group.reactedByMe)}
                >
                  {group.emoji} <span>{group.count}</span>
                </button>
                )}
              </li>
            ))}
          </ul>
        )}
        {onOpenThread && (message.replyCount ?? 0) > 0 && (
          <button type="button" className="link replies" onClick={() => onOpenThread(message.id)}>
            {message.replyCount} {message.replyCount === 1 ? "reply" : "replies"}
          </button>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {picking && (
          <div className="picker" role="group" aria-label="Pick a reaction">
            {QUICK_REACTIONS.map((emoji) => {
              const reacted = !!message.reactions?.find((g) => g.emoji === emoji)?.reactedByMe;
              return (
                <button key={emoji} type="button" aria-label={`React ${emoji}`} onClick={() => toggleReaction(emoji, reacted)}>
                  {emoji}
                </button>
              );
            })}
          </div>
        )}
      </div>
      {!message.isDeleted && !editing && !readOnly && (
        <div className="message-actions" role="group" aria-label={`Actions for the message by ${author}`}>
          <button type="button" aria-label="React" aria-expanded={picking} onClick={() => setPicking(!picking)}>
            <Icon name="smile" />
          </button>
          {onOpenThread && (
            <button type="button" aria-label="Reply in thread" onClick={() => onOpenThread(message.id)}>
              <Icon name="reply" />
            </button>
          )}
          {mine && (
            <button
              type="button"
              aria-label="Edit message"
              onClick={() => {
                setDraft(message.content);
                setEditing(true);
              }}
            >
              <Icon name="edit" />
            </button>
          )}
          {canDelete &&
            (confirming ? (
              <button
                type="button"
                className="danger"
                onClick={() => void run(() => remove({ variables: { id: message.id } })).then(() => setConfirming(false))}
                onBlur={() => setConfirming(false)}
                autoFocus
              >
                Confirm delete
              </button>
            ) : (
              <button type="button" aria-label="Delete message" onClick={() => setConfirming(true)}>
                <Icon name="trash" />
              </button>
            ))}
        </div>
      )}
    </article>
  );
});

/** A message on its way: "Sending…", or failed with a retry that keeps its clientId. */
export function PendingItem({ pending, me, onRetry }: { pending: PendingMessage; me: SessionUser; onRetry: (clientId: string) => void }) {
  return (
    <article className={`message mine pending ${pending.status}`} aria-label={`${nameOf(me)}, ${pending.status}`}>
      <Avatar user={me} />
      <div className="message-body">
        <div className="message-head">
          <span className="author">{nameOf(me)}</span>
          <span className="muted">{pending.status === "sending" ? "Sending…" : "Not sent"}</span>
        </div>
        {pending.content && <MessageText text={pending.content} meUsername={me.username} />}
        {pending.attachments && pending.attachments.length > 0 && (
          <ul className="pending-files">
            {pending.attachments.map((a) => (
              <li key={a.id}>
                <Icon name="attach" /> {a.name}
              </li>
            ))}
          </ul>
        )}
        {pending.status === "failed" && (
          <p className="form-error">
            {pending.error}{" "}
            <button type="button" className="link" onClick={() => onRetry(pending.clientId)}>
              Retry
            </button>
          </p>
        )}
      </div>
    </article>
  );
}
