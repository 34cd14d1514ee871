import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { CreateRoomDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { navigate, roomPath } from "../lib/router";
import { Dialog } from "./Dialog";
import { RoomFields } from "./RoomFields";
import { UserPicker, type PickedUser } from "./UserPicker";

/** Create a public or private room and invite people to it. */
export function NewRoomDialog({ meId, onClose }: { meId: string; onClose: () => void }) {
  const [fields, setFields] = useState({ name: "", description: "", isPrivate: false });
  const [invitees, setInvitees] = useState<PickedUser[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [create, { loading }] = useMutation(CreateRoomDocument, { refetchQueries: ["MyRooms"] });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const result = await create({
        variables: {
          input: {
            name: fields.name.trim(),
            description: fields.description.trim() || null,
            isPrivate: fields.isPrivate,
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

  return (
    <Dialog title="New room" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <RoomFields value={fields} onChange={setFields} privateHint="Private (only invited members can see it)" />
        <UserPicker
          label="Invite people"
          verb="Invite"
          exclude={(u) => u.id === meId || invitees.some((i) => i.id === u.id)}
          onPick={(u) => setInvitees([...invitees, u])}
        />
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
          <button type="submit" className="primary" disabled={loading || !fields.name.trim()}>
            Create room
          </button>
        </div>
      </form>
    </Dialog>
  );
}
