import { useQuery } from "@apollo/client/react";
import { useState, useSyncExternalStore } from "react";
import { ThreadDocument, type RoomRole } from "../gql/graphql";
import { canStopReply, replyAskers } from "../lib/assistant";
import { pendingIn, subscribePending } from "../lib/pending";
import type { SessionUser } from "../lib/session";
import { useFileDrop } from "../lib/useFileDrop";
import { useSend } from "../lib/useSend";
import { useUploads } from "../lib/useUploads";
import { Attachments } from "./Attachments";
import { Composer } from "./Composer";
import { MessageItem, MessageText, PendingItem } from "./MessageItem";

/** A message and its replies (40 a page), with a composer that replies in the thread, files too. */
export function ThreadPanel({
  roomId,
  messageId,
  me,
  members,
  myRole,
  isDirect,
  bots,
  onClose,
}: {
  roomId: string;
  messageId: string;
  me: SessionUser;
  members: { id: string; username: string; displayName: string; isBot?: boolean }[];
  /** Who may stop the assistant's replies here (besides their askers). */
  myRole: RoomRole | null;
  isDirect: boolean;
  bots: readonly string[];
  onClose: () => void;
}) {
  const { data, loading, fetchMore } = useQuery(ThreadDocument, { variables: { id: messageId } });
  const uploads = useUploads();
  const drop = useFileDrop(uploads.add);
  const [loadingMore, setLoadingMore] = useState(false);
  const pending = useSyncExternalStore(subscribePending, () => pendingIn(roomId));
  const { retry } = useSend(roomId);
  const parent = data?.getMessage;
  const replies = parent?.replies.items ?? [];
  const confirmed = new Set(replies.map((r) => r.clientId));
  const waiting = pending.filter((p) => p.replyToId === messageId && !confirmed.has(p.clientId));
  const nextToken = parent?.replies.nextToken ?? null;
  const askers = replyAskers(replies, { botUsernames: bots, isDirect }); // a page of 40 at most

  async function loadMore() {
    if (!nextToken) return;
    setLoadingMore(true);
    try {
      await fetchMore({ variables: { nextToken } });
    } catch {
      /* the button stays: try again */
    } finally {
      setLoadingMore(false);
    }
  }

  return (
    <aside className={drop.over ? "side dropping" : "side"} aria-label="Thread" {...drop.handlers}>
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
          {parent.isDeleted ? (
            <p className="text tombstone">This message was deleted.</p>
          ) : (
            <>
              {parent.content && <MessageText text={parent.content} meUsername={me.username} />}
              {parent.attachments.length > 0 && <Attachments messageId={parent.id} attachments={parent.attachments} />}
            </>
          )}
        </div>
      )}
      <div className="thread-replies" role="log" aria-label="Replies" aria-live="polite">
        {replies.map((reply) => (
          <MessageItem
            key={reply.id}
            message={reply}
            me={me}
            myRole={null}
            canStop={canStopReply(reply, askers.get(reply.id), me, myRole)}
          />
        ))}
        {nextToken && (
          <button type="button" className="link more-replies" disabled={loadingMore} onClick={() => void loadMore()}>
            {loadingMore ? "Loading replies…" : "Show more replies"}
          </button>
        )}
        {waiting.map((p) => (
          <PendingItem key={p.clientId} pending={p} me={me} onRetry={retry} />
        ))}
      </div>
      {parent && !parent.isDeleted && (
        <Composer roomId={roomId} members={members} meId={me.id} label="Reply" replyToId={messageId} uploads={uploads} />
      )}
    </aside>
  );
}
