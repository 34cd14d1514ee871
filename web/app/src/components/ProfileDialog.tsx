import { useApolloClient, useMutation } from "@apollo/client/react";
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { UpdateProfileDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { formatBytes, uploadPercent } from "../lib/files";
import { updateSessionUser, type SessionUser } from "../lib/session";
import { describeUploadError, isAbort, uploadFile } from "../lib/upload";
import { Avatar } from "./Avatar";
import { Dialog } from "./Dialog";

const AVATAR_TYPES = "image/png,image/jpeg,image/gif,image/webp";

interface Picked {
  name: string;
  size: number;
  preview: string;
  loaded: number;
  status: "uploading" | "done" | "failed";
  uploadId: string | null;
}

/** My display name and picture. A picture uploads as soon as it is picked; Save applies both.
 * Username, email, password and deleting the account are in Account settings. */
export function ProfileDialog({
  me,
  onClose,
  onAccountSettings,
}: {
  me: SessionUser;
  onClose: () => void;
  onAccountSettings: () => void;
}) {
  const client = useApolloClient();
  const [displayName, setDisplayName] = useState(me.displayName);
  const [picked, setPicked] = useState<Picked | null>(null);
  const [removing, setRemoving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [update, { loading }] = useMutation(UpdateProfileDocument);
  const fileInput = useRef<HTMLInputElement>(null);
  const upload = useRef<AbortController | null>(null);
  const preview = useRef<string | null>(null);
  const ids = { name: useId(), file: useId() };

  // Another picture, none, or closing: the last upload stops and its preview is freed.
  function discard() {
    upload.current?.abort();
    upload.current = null;
    if (preview.current) URL.revokeObjectURL(preview.current);
    preview.current = null;
  }
  useEffect(() => discard, []);

  function choose(file: File | undefined) {
    if (!file) return;
    setError(null);
    discard();
    if (!file.type.startsWith("image/")) {
      setPicked(null);
      setError("Choose an image: PNG, JPEG, GIF or WebP.");
      return;
    }
    const controller = new AbortController();
    upload.current = controller;
    setRemoving(false);
    preview.current = URL.createObjectURL(file);
    setPicked({ name: file.name, size: file.size, preview: preview.current, loaded: 0, status: "uploading", uploadId: null });
    const patch = (change: Partial<Picked>) => {
      if (upload.current === controller) setPicked((p) => (p ? { ...p, ...change } : p));
    };
    uploadFile(client, file, (loaded) => patch({ loaded }), controller.signal)
      .then((checked) => patch({ status: "done", uploadId: checked.id, loaded: file.size }))
      .catch((err: unknown) => {
        if (isAbort(err) || upload.current !== controller) return;
        patch({ status: "failed" });
        setError(describeUploadError(err));
      });
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    const name = displayName.trim();
    const input = {
      ...(name !== me.displayName ? { displayName: name } : {}),
      ...(picked?.uploadId ? { avatarUploadId: picked.uploadId } : removing ? { avatarUrl: "" } : {}),
    };
    if (Object.keys(input).length === 0) return onClose();
    try {
      const result = await update({ variables: { input } });
      if (result.data) updateSessionUser(result.data.updateProfile);
      onClose();
    } catch (err) {
      setError(describeError(err));
    }
  }

  const shown = { ...me, displayName: displayName.trim() || me.username, avatarUrl: picked ? picked.preview : removing ? null : me.avatarUrl };
  const uploading = picked?.status === "uploading";
  return (
    <Dialog title="Profile" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <div className="profile-avatar">
          <Avatar user={shown} size="large" />
          <div className="stack">
            <div className="profile-avatar-actions">
              <button type="button" onClick={() => fileInput.current?.click()}>
                {me.avatarUrl || picked ? "Change picture" : "Choose picture"}
              </button>
              {(me.avatarUrl || picked) && !removing && (
                <button
                  type="button"
                  onClick={() => {
                    discard();
                    setPicked(null);
                    setRemoving(Boolean(me.avatarUrl));
                  }}
                >
                  Remove picture
                </button>
              )}
            </div>
            <input
              ref={fileInput}
              type="file"
              accept={AVATAR_TYPES}
              hidden
              onChange={(e) => {
                choose(e.target.files?.[0]);
                e.target.value = "";
              }}
            />
            {picked && (
              <span className="muted file-meta">
                <span id={ids.file}>{picked.name}</span> · {formatBytes(picked.size)}
                {picked.status === "done" && " · ready"}
              </span>
            )}
            {picked && uploading && (
              <progress max={100} value={uploadPercent(picked)} aria-valuenow={uploadPercent(picked)} aria-labelledby={ids.file} />
            )}
            {removing && <span className="muted">The picture will be removed when you save.</span>}
          </div>
        </div>
        <label htmlFor={ids.name}>Display name</label>
        <input id={ids.name} required maxLength={64} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="link push-start" onClick={onAccountSettings}>
            Account settings
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={loading || uploading || picked?.status === "failed" || !displayName.trim()}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
