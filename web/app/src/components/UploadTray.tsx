import { useId } from "react";
import { formatBytes, uploadPercent, type Upload } from "../lib/files";
import type { Uploads } from "../lib/useUploads";
import { Icon } from "./Icon";

/** The files picked for the next message, above the composer: progress, errors, remove. */
export function UploadTray({ uploads }: { uploads: Uploads }) {
  if (uploads.items.length === 0 && !uploads.notice) return null;
  return (
    <div className="tray">
      {uploads.notice && (
        <p className="form-error" role="alert">
          {uploads.notice}
        </p>
      )}
      {uploads.items.length > 0 && (
        <ul className="tray-list" aria-label="Files to send">
          {uploads.items.map((upload) => (
            <TrayItem key={upload.key} upload={upload} onRemove={() => uploads.remove(upload.key)} />
          ))}
        </ul>
      )}
    </div>
  );
}

function TrayItem({ upload, onRemove }: { upload: Upload; onRemove: () => void }) {
  const nameId = useId();
  const percent = uploadPercent(upload);
  return (
    <li className={`tray-item ${upload.status}`}>
      {upload.preview ? (
        <img className="tray-preview" src={upload.preview} alt="" width={40} height={40} />
      ) : (
        <span className="tray-icon" aria-hidden="true">
          <Icon name="file" />
        </span>
      )}
      <span className="tray-text">
        <span className="file-name" id={nameId}>
          {upload.name}
        </span>
        <span className="muted file-meta">
          {formatBytes(upload.size)}
          {upload.status === "done" && " · ready"}
        </span>
        {upload.status === "uploading" && (
          <progress max={100} value={percent} aria-valuenow={percent} aria-labelledby={nameId} />
        )}
        {upload.status === "failed" && (
          <span className="form-error" role="alert">
            {upload.error}
          </span>
        )}
      </span>
      <button
        type="button"
        className="icon"
        aria-label={upload.status === "uploading" ? `Cancel upload of ${upload.name}` : `Remove ${upload.name}`}
        onClick={onRemove}
      >
        ×
      </button>
    </li>
  );
}
