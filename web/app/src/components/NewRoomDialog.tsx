import { useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { CreateRoomDocument } from "../gql/graphql";
import { useUserSearch } from "../lib/useUserSearch";
import { describeError } from "../lib/errors";
import { navigate, roomPath } from "../lib/router";
import { Dialog } from "./Dialog";

interface Invitee {
  id: string;
  username: string;
  displayName: string;
}

/** Create a public or private room and invite people to it. */
export function NewRoomDialog({ meId, onClose }: { meId: string; onClose: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [isPrivate, setPrivate] = useState(false);
  const [invitees, setInvitees] = useState<Invitee[]>([]);
  const [term, setTerm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const { results } = useUserSearch(term);
  const [create, { loading }] = useMutation(CreateRoomDocument, { refetchQueries: ["MyRooms"] });
  const ids = { name: useId(), desc: useId(), priv: useId(), invite: useId() };

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const result = await create({
        variables: {
          input: {
            name: name.trim(),
            description: description.trim() || null,
            isPrivate,
            memberIds: invitees.map((i) => i.id),
          },
        },
      });
      const room = result.data?.createChatRoom;
      if (room) {
        onClose();
        navigate(roomPath(room.id));
      }
    } catch (err) {
      setError(describeError(err));
    }
  }

  const candidates = results.filter((u) => u.id !== meId && !invitees.some((i) => i.id === u.id));
  return (
    <Dialog title="New room" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label htmlFor={ids.name}>Room name</label>
        <input id={ids.name} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={ids.desc}>Description</label>
        <textarea id={ids.desc} rows={2} maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />
        <label className="check">
          <input id={ids.priv} type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
          Private (only invited members can see it)
        </label>
        <label htmlFor={ids.invite}>Invite people</label>
        <input id={ids.invite} type="search" value={term} onChange={(e) => setTerm(e.target.value)} autoComplete="off" />
        {candidates.length > 0 && (
          <ul className="search-results">
            {candidates.map((u) => (
              <li key={u.id}>
                <button
                  type="button"
                  className="result"
                  onClick={() => {
                    setInvitees([...invitees, u]);
                    setTerm("");
                  }}
                >
                  Invite {u.displayName} <span className="muted">@{u.username}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {invitees.length > 0 && (
          <ul className="chips" aria-label="Invited">
            {invitees.map((u) => (
              <li key={u.id} className="chip">
                {u.displayName}
                <button
                  type="button"
                  className="icon"
                  aria-label={`Remove ${u.displayName}`}
                  onClick={() => setInvitees(invitees.filter((i) => i.id !== u.id))}
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={loading || !name.trim()}>
            Create room
          </button>
        </div>
      </form>
    </Dialog>
  );
}
