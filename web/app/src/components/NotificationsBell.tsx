import { Icon } from "./Icon";
import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useRef, useState } from "react";
import {
  MarkAllNotificationsReadDocument,
  MarkNotificationReadDocument,
  NotificationsDocument,
  OnNotificationDocument,
} from "../gql/graphql";
import { formatTime } from "../lib/format";
import { navigate, roomPath, streamPath } from "../lib/router";
import { useLive } from "../lib/useLive";

const LABEL = {
  MESSAGE: "New message",
  MENTION: "Mentioned you",
  ROOM_INVITE: "Added you to a room",
  STREAM_LIVE: "is live",
} as const;

/** Where a notification leads: a stream's watch page, else its room. */
function target(note: { chatRoomId?: string | null; stream?: { id: string } | null }): string | null {
  if (note.stream) return streamPath(note.stream.id);
  return note.chatRoomId ? roomPath(note.chatRoomId) : null;
}

/** Unread count, the list, mark read; desktop notifications when the tab is hidden. */
export function NotificationsBell() {
  const [open, setOpen] = useState(false);
  const { data, refetch } = useQuery(NotificationsDocument, { fetchPolicy: "cache-and-network" });
  const [markRead] = useMutation(MarkNotificationReadDocument);
  const [markAll] = useMutation(MarkAllNotificationsReadDocument);
  const [permission, setPermission] = useState(() =>
    typeof Notification === "undefined" ? "unsupported" : Notification.permission,
  );
  const panelRef = useRef<HTMLDivElement>(null);

  useLive(OnNotificationDocument, {
    onData: (event) => {
      const note = event.onNotificationReceived;
      void refetch().catch(() => undefined);
      if (document.hidden && permission === "granted") {
        const who = note.actor ? note.actor.displayName || note.actor.username : "ChatQL";
        const heading = note.type === "STREAM_LIVE" ? `${who} is live` : `${who}: ${LABEL[note.type]}`;
        const shown = new Notification(heading, {
          body: note.message?.content ?? note.stream?.title ?? note.chatRoom?.name ?? "",
          tag: note.id,
        });
        shown.onclick = () => {
          window.focus();
          const to = target(note);
          if (to) navigate(to);
        };
      }
    },
  });

  useEffect(() => {
    if (!open) return;
    const close = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    const outside = (e: MouseEvent) => {
      if (panelRef.current && !panelRef.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("keydown", close);
    document.addEventListener("mousedown", outside);
    return () => {
      document.removeEventListener("keydown", close);
      document.removeEventListener("mousedown", outside);
    };
  }, [open]);

  const items = data?.listNotifications.items ?? [];
  const unread = items.filter((n) => !n.isRead).length;
  return (
    <div className="bell" ref={panelRef}>
      <button
        type="button"
        aria-expanded={open}
        aria-controls="notifications-panel"
        aria-label={unread ? `Notifications, ${unread} unread` : "Notifications"}
        onClick={() => setOpen(!open)}
      >
        <Icon name="bell" />
        {unread > 0 && (
          <span className="badge" aria-hidden="true">
            {unread > 99 ? "99+" : unread}
          </span>
        )}
      </button>
      {open && (
        <div id="notifications-panel" className="popover" role="region" aria-label="Notifications">
          <div className="popover-head">
            <h2>Notifications</h2>
            <button type="button" className="link" disabled={!unread} onClick={() => void markAll().then(() => refetch())}>
              Mark all read
            </button>
          </div>
          {permission === "default" && (
            <button
              type="button"
              className="link"
              onClick={() => void Notification.requestPermission().then((p) => setPermission(p))}
            >
              Enable desktop notifications
            </button>
          )}
          {items.length === 0 && <p className="muted">Nothing yet.</p>}
          <ul>
            {items.map((note) => (
              <li key={note.id} className={note.isRead ? "note" : "note unread"}>
                <button
                  type="button"
                  className="result"
                  onClick={() => {
                    if (!note.isRead) void markRead({ variables: { id: note.id } });
                    setOpen(false);
                    const to = target(note);
                    if (to) navigate(to);
                  }}
                >
                  <span>
                    <strong>{note.actor ? note.actor.displayName || note.actor.username : "ChatQL"}</strong>{" "}
                    {LABEL[note.type]}
                    {note.stream ? (
                      <>: {note.stream.title}</>
                    ) : (
                      note.chatRoom && !note.chatRoom.isDirect && <> in {note.chatRoom.name}</>
                    )}
                    {!note.isRead && <span className="visually-hidden"> (unread)</span>}
                  </span>
                  {note.message && <span className="note-text">{note.message.content}</span>}
                  <time className="muted">{formatTime(note.createdAt)}</time>
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
