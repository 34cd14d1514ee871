import { useMutation, useQuery } from "@apollo/client/react";
import { useId, useState } from "react";
import { JoinRoomDocument, PublicRoomsDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { navigate, roomPath } from "../lib/router";
import { Dialog } from "./Dialog";

/** The directory of public rooms: search, join, open. */
export function PublicRoomsDialog({ onClose }: { onClose: () => void }) {
  const [term, setTerm] = useState("");
  const { data, loading } = useQuery(PublicRoomsDocument, {
    variables: { term: term.trim() || null },
    fetchPolicy: "network-only",
  });
  const [join] = useMutation(JoinRoomDocument, { refetchQueries: ["MyRooms"] });
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();

  async function open(id: string, member: boolean) {
    setError(null);
    try {
      if (!member) await join({ variables: { roomId: id } });
      onClose();
      navigate(roomPath(id));
    } catch (err) {
      setError(describeError(err));
    }
  }

  const rooms = data?.listPublicRooms.items ?? [];
  return (
    <Dialog title="Public rooms" onClose={onClose}>
      <label htmlFor={inputId}>Search rooms</label>
      <input id={inputId} type="search" value={term} onChange={(e) => setTerm(e.target.value)} autoComplete="off" />
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && rooms.length === 0 && <p className="muted">No public rooms match.</p>}
      <ul className="directory">
        {rooms.map((room) => (
          <li key={room.id}>
            <div>
              <strong>{room.name}</strong>
              <span className="muted"> · {room.memberCount} members</span>
              {room.description && <p className="muted">{room.description}</p>}
            </div>
            <button type="button" className={room.myRole ? "" : "primary"} onClick={() => void open(room.id, !!room.myRole)}>
              {room.myRole ? "Open" : "Join"}
              <span className="visually-hidden"> {room.name}</span>
            </button>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}
