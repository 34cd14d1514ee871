import { useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { DeleteRoomDocument, UpdateRoomDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { navigate } from "../lib/router";
import { Dialog } from "./Dialog";

/** Rename, describe, make private or public, or delete a room. */
export function RoomSettingsDialog({
  room,
  canDelete,
  onClose,
}: {
  room: { id: string; name: string; description: string | null; isPrivate: boolean };
  canDelete: boolean;
  onClose: () => void;
}) {
  const [name, setName] = useState(room.name);
  const [description, setDescription] = useState(room.description ?? "");
  const [isPrivate, setPrivate] = useState(room.isPrivate);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [update, { loading }] = useMutation(UpdateRoomDocument, { refetchQueries: ["MyRooms"] });
  const [remove] = useMutation(DeleteRoomDocument, { refetchQueries: ["MyRooms"] });
  const ids = { name: useId(), desc: useId() };

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      await update({ variables: { input: { id: room.id, name: name.trim(), description: description.trim(), isPrivate } } });
      onClose();
    } catch (err) {
      setError(describeError(err));
    }
  }

  async function destroy() {
    setError(null);
    try {
      await remove({ variables: { id: room.id } });
      onClose();
      navigate("/");
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <Dialog title="Room settings" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label htmlFor={ids.name}>Room name</label>
        <input id={ids.name} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <label htmlFor={ids.desc}>Description</label>
        <textarea id={ids.desc} rows={2} maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />
        <label className="check">
          <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} /> Private
        </label>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          {canDelete &&
            (confirming ? (
              <button type="button" className="danger" onClick={() => void destroy()}>
                Delete forever
              </button>
            ) : (
              <button type="button" className="danger" onClick={() => setConfirming(true)}>
                Delete room
              </button>
            ))}
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={loading || !name.trim()}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
