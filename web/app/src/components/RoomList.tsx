import { Icon } from "./Icon";
import { useQuery } from "@apollo/client/react";
import { MyRoomsDocument, OnNotificationDocument, type MessageType } from "../gql/graphql";
import { formatTime, roomTitle } from "../lib/format";
import { navigate, roomPath } from "../lib/router";
import { useLive } from "../lib/useLive";
import { Avatar } from "./Avatar";

/** A message with files and no text, in a room's preview line. */
function typeSummary(type: MessageType): string {
  return type === "IMAGE" ? "sent an image" : type === "FILE" ? "sent a file" : "";
}

/** My rooms, most recent first, with unread badges and the last message. */
export function RoomList({ meId, activeRoomId }: { meId: string; activeRoomId: string | null }) {
  const { data, loading, error, refetch } = useQuery(MyRoomsDocument, { fetchPolicy: "cache-and-network" });
  // Any new message elsewhere arrives as a notification: refresh badges and previews.
  // (After a network drop the Shell refetches every active query, this list included.)
  useLive(OnNotificationDocument, { onData: () => void refetch().catch(() => undefined) });

  const rooms = [...(data?.listChatRooms.items ?? [])].sort((a, b) => b.lastActivity.localeCompare(a.lastActivity));
  return (
    <nav aria-label="Rooms" className="room-list">
      <h2 className="section-title">Rooms</h2>
      {error && !data && <p className="muted">Could not load your rooms.</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && rooms.length === 0 && <p className="muted">No rooms yet: start one or message someone.</p>}
      <ul>
        {rooms.map((room) => {
          const title = roomTitle(room, meId);
          const other = room.isDirect ? room.members.items.find((m) => m.id !== meId) : undefined;
          const last = room.lastMessage;
          const unread = room.id === activeRoomId ? 0 : room.unreadCount;
          const descId = `room-desc-${room.id}`;
          return (
            <li key={room.id}>
              <a
                href={roomPath(room.id)}
                className={room.id === activeRoomId ? "room-link active" : "room-link"}
                aria-current={room.id === activeRoomId ? "page" : undefined}
                aria-label={title}
                aria-describedby={descId}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                  e.preventDefault();
                  navigate(roomPath(room.id));
                }}
              >
                {other ? (
                  <Avatar user={other.isBot ? { ...other, status: null } : other} size="small" />
                ) : (
                  <span className="room-icon" aria-hidden="true">
                    {room.isPrivate ? <Icon name="lock" /> : "#"}
                  </span>
                )}
                <span className="room-text">
                  <span className="room-name">{title}</span>
                  <span className="room-last" id={descId}>
                    {last
                      ? `${last.author.id === meId ? "You" : last.author.displayName || last.author.username}: ${
                          last.isDeleted
                            ? "message deleted"
                            : last.content || (last.isStreaming ? "…" : typeSummary(last.messageType))
                        }`
                      : "No messages yet"}
                    {unread > 0 && <span className="visually-hidden">, {unread} unread</span>}
                  </span>
                </span>
                <span className="room-meta" aria-hidden="true">
                  {last && <time>{formatTime(last.createdAt)}</time>}
                  {unread > 0 && <span className="badge">{unread > 99 ? "99+" : unread}</span>}
                </span>
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
