import { useMutation } from "@apollo/client/react";
import { forwardRef, useEffect, useMemo, useRef, useState, useSyncExternalStore, type HTMLAttributes } from "react";
import { Virtuoso, type VirtuosoHandle } from "react-virtuoso";
import { MarkRoomReadDocument, type RoomRole } from "../gql/graphql";
import { canStopReply, replyAskers } from "../lib/assistant";
import { filesSummary } from "../lib/files";
import { dayKey, formatDay, nameOf } from "../lib/format";
import { pendingIn, subscribePending, type PendingMessage } from "../lib/pending";
import type { SessionUser } from "../lib/session";
import type { HistoryMessage, useRoomLive } from "../lib/useRoomLive";
import { useSend } from "../lib/useSend";
import { MessageItem, PendingItem } from "./MessageItem";

type Row = { kind: "message"; key: string; message: HistoryMessage } | { kind: "pending"; key: string; pending: PendingMessage };

const BASE_INDEX = 10_000_000;
/** Within this many pixels of the end, the log counts as at the end (and follows what grows there). */
const AT_BOTTOM_PX = 80;
const NO_BOTS: readonly string[] = [];

const List = forwardRef<HTMLDivElement, HTMLAttributes<HTMLDivElement>>(function List(props, ref) {
  return <div {...props} ref={ref} className="message-rows" />;
});

/** The virtualised log: older pages load on scrolling up; follows new messages at the bottom. */
export function MessageList({
  roomId,
  me,
  live,
  myRole,
  lastReadCursor,
  bots = NO_BOTS,
  isDirect = false,
  readOnly = false,
  onOpenThread,
}: {
  roomId: string;
  me: SessionUser;
  live: ReturnType<typeof useRoomLive>;
  myRole: RoomRole | null;
  lastReadCursor: string | null;
  /** Usernames of the room's bots (the assistant), whose replies stream and may be stopped. */
  bots?: readonly string[];
  isDirect?: boolean;
  /** A guest's view: nothing to mark read, no actions on messages. */
  readOnly?: boolean;
  onOpenThread?: ((messageId: string) => void) | undefined;
}) {
  const pending = useSyncExternalStore(subscribePending, () => pendingIn(roomId));
  const { retry } = useSend(roomId);
  const virtuoso = useRef<VirtuosoHandle>(null);
  const [atBottom, setAtBottom] = useState(true);
  const [markRead] = useMutation(MarkRoomReadDocument);
  // The read marker when the room was opened: a "New" line goes after it.
  const [readMarkerAtOpen] = useState(lastReadCursor);

  const rows = useMemo<Row[]>(() => {
    const messages = live.items.filter((m) => !m.replyToId);
    const rows: Row[] = [];
    for (let i = messages.length - 1; i >= 0; i--) {
      const message = messages[i];
      if (message) rows.push({ kind: "message", key: message.id, message });
    }
    const confirmed = new Set(live.items.map((m) => m.clientId).filter(Boolean));
    for (const p of pending) {
      if (!p.replyToId && !confirmed.has(p.clientId)) rows.push({ kind: "pending", key: `p-${p.clientId}`, pending: p });
    }
    return rows;
  }, [live.items, pending]);

  // Who asked each of the assistant's replies: they (and the room's admins) may stop it.
  const askers = useMemo(() => replyAskers(live.items, { botUsernames: bots, isDirect }), [live.items, bots, isDirect]);

  // A reply that streams grows in place: at the end of the log, the log follows it down before
  // the frame is painted (Virtuoso follows new rows, not rows that grow).
  const [scroller, setScroller] = useState<HTMLElement | null>(null);
  useEffect(() => {
    const list = scroller?.querySelector(".message-rows");
    if (!scroller || !list) return;
    let stuck = true;
    const onScroll = () => {
      stuck = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= AT_BOTTOM_PX;
    };
    const observer = new ResizeObserver(() => {
      if (stuck) scroller.scrollTop = scroller.scrollHeight;
    });
    scroller.addEventListener("scroll", onScroll, { passive: true });
    observer.observe(list);
    return () => {
      scroller.removeEventListener("scroll", onScroll);
      observer.disconnect();
    };
  }, [scroller]);

  // firstItemIndex must only move back when older rows are prepended.
  const anchor = useRef<string | null>(null);
  if (anchor.current === null && rows[0]) anchor.current = rows[0].key;
  const anchorIndex = Math.max(0, rows.findIndex((r) => r.key === anchor.current));
  const firstItemIndex = BASE_INDEX - anchorIndex;

  const newest = live.items[0];
  const newestCursor = newest?.cursor;
  useEffect(() => {
    if (!newestCursor || !atBottom || document.hidden || readOnly) return;
    const timer = setTimeout(
      () => void markRead({ variables: { chatRoomId: roomId, cursor: newestCursor } }).catch(() => undefined),
      400,
    );
    return () => clearTimeout(timer);
  }, [newestCursor, atBottom, roomId, markRead, readOnly]);

  // Screen readers hear a new message from someone else; an assistant's reply once it is written.
  const lastLive = live.lastLive && live.lastLive.author.id !== me.id ? live.lastLive : null;
  const announce = lastLive ? (live.items.find((m) => m.id === lastLive.id) ?? lastLive) : null;
  const readSeq = readMarkerAtOpen ? live.items.find((m) => m.cursor === readMarkerAtOpen)?.seq : undefined;

  return (
    <div className="log-wrap">
      <div role="log" aria-label="Messages" aria-live="off" className="log">
        {!live.loaded ? (
          <p className="muted empty">Loading messages…</p>
        ) : rows.length === 0 ? (
          <p className="muted empty">No messages yet. Say hello!</p>
        ) : (
          <Virtuoso
            ref={virtuoso}
            scrollerRef={(element) => setScroller(element instanceof HTMLElement ? element : null)}
            className="scroller"
            data={rows}
            firstItemIndex={firstItemIndex}
            initialTopMostItemIndex={{ index: "LAST", align: "end" }}
            computeItemKey={(_index, row) => row.key}
            startReached={() => void live.loadOlder()}
            followOutput={(bottom) => (bottom ? "auto" : false)}
            atBottomStateChange={setAtBottom}
            atBottomThreshold={AT_BOTTOM_PX}
            increaseViewportBy={{ top: 400, bottom: 200 }}
            components={{
              List,
              Header: () =>
                live.hasOlder ? <p className="muted history-edge">Loading older messages…</p> : <p className="muted history-edge">This is the beginning of the conversation.</p>,
            }}
            itemContent={(index, row) => {
              const previous = rows[index - firstItemIndex - 1];
              const created = row.kind === "message" ? row.message.createdAt : row.pending.createdAt;
              const prevCreated = previous
                ? previous.kind === "message"
                  ? previous.message.createdAt
                  : previous.pending.createdAt
                : null;
              const newDay = !prevCreated || dayKey(prevCreated) !== dayKey(created);
              const unreadLine =
                row.kind === "message" &&
                readSeq !== undefined &&
                row.message.seq > readSeq &&
                previous?.kind === "message" &&
                previous.message.seq <= readSeq;
              return (
                <div className="row">
                  {newDay && (
                    <div className="day" role="separator" aria-label={formatDay(created)}>
                      <span>{formatDay(created)}</span>
                    </div>
                  )}
                  {unreadLine && (
                    <div className="unread-line" role="separator" aria-label="New messages">
                      <span>New</span>
                    </div>
                  )}
                  {row.kind === "message" ? (
                    <MessageItem
                      message={row.message}
                      me={me}
                      myRole={myRole}
                      readOnly={readOnly}
                      canStop={canStopReply(row.message, askers.get(row.message.id), me, myRole)}
                      onOpenThread={onOpenThread}
                    />
                  ) : (
                    <PendingItem pending={row.pending} me={me} onRetry={retry} />
                  )}
                </div>
              );
            }}
          />
        )}
      </div>
      {!atBottom && rows.length > 0 && (
        <button
          type="button"
          className="jump"
          onClick={() => {
            // Not smooth: over hundreds of rows of unknown height a smooth scroll may stop short
            // of the end. Rows measured on the way move the end, so settle once more after them.
            const list = virtuoso.current;
            list?.scrollToIndex({ index: "LAST", align: "end", behavior: "auto" });
            requestAnimationFrame(() => list?.scrollToIndex({ index: "LAST", align: "end", behavior: "auto" }));
          }}
        >
          Jump to latest ↓
        </button>
      )}
      <div className="visually-hidden" aria-live="polite">
        {announce &&
          (announce.isStreaming
            ? `${nameOf(announce.author)} is answering…`
            : `${nameOf(announce.author)}: ${announce.content || filesSummary(announce.attachments)}`)}
      </div>
    </div>
  );
}
