/**
 * The files picked for the next message: each starts uploading at once, and Send takes the
 * ones done. Removing one cancels its upload; leaving the room cancels them all.
 */
import { useApolloClient } from "@apollo/client/react";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { readyUploads, roomForFiles, uploadsReducer, MAX_FILES, type Upload } from "./files";
import { describeUploadError, isAbort, uploadFile } from "./upload";

export interface Uploads {
  items: Upload[];
  /** Why some files were not taken (too many), until the next add. */
  notice: string | null;
  add: (files: File[]) => void;
  remove: (key: string) => void;
  /** The checked uploads, taken out of the tray for a message being sent. */
  take: () => { id: string; name: string }[];
}

let counter = 0;

export function useUploads(): Uploads {
  const client = useApolloClient();
  const [items, dispatch] = useReducer(uploadsReducer, []);
  const [notice, setNotice] = useState<string | null>(null);
  const current = useRef(items);
  current.current = items;
  const controllers = useRef(new Map<string, AbortController>());

  const forget = useCallback((upload: Upload | undefined) => {
    if (!upload) return;
    controllers.current.get(upload.key)?.abort();
    controllers.current.delete(upload.key);
    if (upload.preview) URL.revokeObjectURL(upload.preview);
  }, []);

  const add = useCallback(
    (files: File[]) => {
      const room = roomForFiles(current.current);
      const taken = files.slice(0, room);
      setNotice(taken.length < files.length ? `A message can carry at most ${MAX_FILES} files.` : null);
      const uploads = taken.map(
        (file): Upload => ({
          key: `u${++counter}`,
          name: file.name || "file",
          size: file.size,
          mimeType: file.type,
          status: "uploading",
          loaded: 0,
          attachmentId: null,
          error: null,
          preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null,
        }),
      );
      dispatch({ type: "add", uploads });
      uploads.forEach((upload, i) => {
        const file = taken[i];
        if (!file) return;
        const controller = new AbortController();
        controllers.current.set(upload.key, controller);
        uploadFile(client, file, (loaded) => dispatch({ type: "progress", key: upload.key, loaded }), controller.signal)
          .then((checked) => dispatch({ type: "done", key: upload.key, attachmentId: checked.id }))
          .catch((error: unknown) => {
            if (!isAbort(error) && !controller.signal.aborted) {
              dispatch({ type: "failed", key: upload.key, error: describeUploadError(error) });
            }
          })
          .finally(() => controllers.current.delete(upload.key));
      });
    },
    [client],
  );

  const remove = useCallback(
    (key: string) => {
      forget(current.current.find((u) => u.key === key));
      setNotice(null);
      dispatch({ type: "remove", key });
    },
    [forget],
  );

  const take = useCallback(() => {
    const ready = readyUploads(current.current);
    for (const r of ready) forget(current.current.find((u) => u.key === r.key));
    dispatch({ type: "sent", keys: ready.map((r) => r.key) });
    setNotice(null);
    return ready.map(({ id, name }) => ({ id, name }));
  }, [forget]);

  // Leaving: stop what is still being sent, free the previews.
  useEffect(() => () => current.current.forEach(forget), [forget]);

  return { items, notice, add, remove, take };
}
