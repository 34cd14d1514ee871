import { useQuery } from "@apollo/client/react";
import { PublicRoomsDocument } from "../gql/graphql";
import { formatTime } from "../lib/format";
import { navigate, roomPath } from "../lib/router";

/** A guest's rooms: the public ones, to open read-only. */
export function GuestRoomList({ activeRoomId }: { activeRoomId: string | null }) {
  const { data, loading, error } = useQuery(PublicRoomsDocument, { variables: { term: null }, fetchPolicy: "cache-and-network" });
  const rooms = [...(data?.listPublicRooms.items ?? [])].sort((a, b) => b.lastActivity.localeCompare(a.lastActivity));
  return (
    <nav aria-label="Rooms" className="room-list">
      <h2 className="section-title">Public rooms</h2>
      {error && !data && <p className="muted">Could not load the public rooms.</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && rooms.length === 0 && <p className="muted">There are no public rooms yet.</p>}
      <ul>
        {rooms.map((room) => {
          const descId = `room-desc-${room.id}`;
          return (
            <li key={room.id}>
              <a
                href={roomPath(room.id)}
                className={room.id === activeRoomId ? "room-link active" : "room-link"}
                aria-current={room.id === activeRoomId ? "page" : undefined}
                aria-label={room.name}
                aria-describedby={descId}
                onClick={(e) => {
                  if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                  e.preventDefault();
                  navigate(roomPath(room.id));
                }}
              >
                <span className="room-icon" aria-hidden="true">
                  #
                </span>
                <span className="room-text">
                  <span className="room-name">{room.name}</span>
                  <span className="room-last" id={descId}>
                    {room.description || `${room.memberCount} ${room.memberCount === 1 ? "member" : "members"}`}
                  </span>
                </span>
                <span className="room-meta" aria-hidden="true">
                  <time>{formatTime(room.lastActivity)}</time>
                </span>
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
