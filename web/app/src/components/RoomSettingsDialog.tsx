import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { DeleteRoomDocument, UpdateRoomDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { navigate } from "../lib/router";
import { Dialog } from "./Dialog";
import { RoomFields } from "./RoomFields";

/** Rename, describe, make private or public, or delete a room (its owner or a global admin). */
export function RoomSettingsDialog({
  room,
  onClose,
}: {
  room: { id: string; name: string; description: string | null; isPrivate: boolean };
  onClose: () => void;
}) {
  const [fields, setFields] = useState({
    name: room.name,
    description: room.description ?? "",
    isPrivate: room.isPrivate,
  });
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [update, { loading }] = useMutation(UpdateRoomDocument, { refetchQueries: ["MyRooms"] });
  const [remove] = useMutation(DeleteRoomDocument, { refetchQueries: ["MyRooms"] });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const { name, description, isPrivate } = fields;
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
        <RoomFields value={fields} onChange={setFields} privateHint="Private" />
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          {confirming ? (
            <button type="button" className="danger" onClick={() => void destroy()}>
              Delete forever
            </button>
          ) : (
            <button type="button" className="danger" onClick={() => setConfirming(true)}>
              Delete room
            </button>
          )}
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={loading || !fields.name.trim()}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
