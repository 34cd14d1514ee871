import { useQuery } from "@apollo/client/react";
import { useSyncExternalStore } from "react";
import { ThreadDocument } from "../gql/graphql";
import { pendingIn, subscribePending } from "../lib/pending";
import type { SessionUser } from "../lib/session";
import { useSend } from "../lib/useSend";
import { Composer } from "./Composer";
import { MessageItem, MessageText, PendingItem } from "./MessageItem";

/** A message and its replies, with a composer that replies in the thread. */
export function ThreadPanel({
  roomId,
  messageId,
  me,
  members,
  onClose,
}: {
  roomId: string;
  messageId: string;
  me: SessionUser;
  members: { id: string; username: string; displayName: string }[];
  onClose: () => void;
}) {
  const { data, loading } = useQuery(ThreadDocument, { variables: { id: messageId } });
  const pending = useSyncExternalStore(subscribePending, () => pendingIn(roomId));
  const { retry } = useSend(roomId);
  const parent = data?.getMessage;
  const replies = parent?.replies.items ?? [];
  const confirmed = new Set(replies.map((r) => r.clientId));
  const waiting = pending.filter((p) => p.replyToId === messageId && !confirmed.has(p.clientId));
  return (
    <aside className="side" aria-label="Thread">
      <div className="side-head">
        <h2>Thread</h2>
        <button type="button" className="icon" aria-label="Close thread" onClick={onClose}>
          ×
        </button>
      </div>
      {loading && !data && <p className="muted pad">Loading…</p>}
      {parent && (
        <div className="thread-parent">
          <strong>{parent.author.displayName || parent.author.username}</strong>
          {parent.isDeleted ? <p className="text tombstone">This message was deleted.</p> : <MessageText text={parent.content} meUsername={me.username} />}
        </div>
      )}
      <div className="thread-replies" role="log" aria-label="Replies" aria-live="polite">
        {replies.map((reply) => (
          <MessageItem key={reply.id} message={reply} me={me} myRole={null} />
        ))}
        {waiting.map((p) => (
          <PendingItem key={p.clientId} pending={p} me={me} onRetry={retry} />
        ))}
      </div>
      {parent && !parent.isDeleted && (
        <Composer roomId={roomId} members={members} meId={me.id} label="Reply" replyToId={messageId} />
      )}
    </aside>
  );
}
