import { useState } from "react";
import { fileKind, fileTag, fitWithin, formatBytes, isImage, type AttachmentView } from "../lib/files";
import { useFreshAttachments } from "../lib/useFreshAttachments";
import { DownloadLink, type Refresh } from "./DownloadLink";
import { Icon } from "./Icon";
import { useOpenImage } from "./ImageViewer";

/** A message's files: pictures as thumbnails that open the viewer, the rest as cards. */
export function Attachments({ messageId, attachments }: { messageId: string; attachments: AttachmentView[] }) {
  const refresh = useFreshAttachments(messageId);
  const images = attachments.filter(isImage);
  const files = attachments.filter((a) => !isImage(a));
  // One picture may be larger; several share the line.
  const box = images.length === 1 ? { w: 320, h: 240 } : { w: 160, h: 160 };
  return (
    <div className="attachments">
      {images.length > 0 && (
        <ul className="thumbs">
          {images.map((a) => (
            <li key={a.id}>
              <Thumbnail messageId={messageId} attachment={a} box={box} refresh={refresh} />
            </li>
          ))}
        </ul>
      )}
      {files.length > 0 && (
        <ul className="file-cards">
          {files.map((a) => (
            <li key={a.id}>
              <FileCard attachment={a} refresh={refresh} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Thumbnail({
  messageId,
  attachment,
  box,
  refresh,
}: {
  messageId: string;
  attachment: AttachmentView;
  box: { w: number; h: number };
  refresh: Refresh;
}) {
  const open = useOpenImage();
  const src = attachment.thumbnailUrl ?? attachment.url;
  // The URL that failed (expired, most likely): a card until a fresh one arrives.
  const [failed, setFailed] = useState<string | null>(null);
  if (failed === src) return <FileCard attachment={attachment} refresh={refresh} />;
  const size = fitWithin(attachment.width, attachment.height, box.w, box.h);
  return (
    <button type="button" className="thumb" aria-haspopup="dialog" onClick={() => open(messageId, attachment)}>
      <span className="visually-hidden">Open </span>
      <img
        src={src}
        alt={attachment.name}
        width={size?.width}
        height={size?.height}
        loading="lazy"
        decoding="async"
        onError={() => {
          setFailed(src);
          void refresh();
        }}
      />
    </button>
  );
}

export function FileCard({ attachment, refresh }: { attachment: AttachmentView; refresh: Refresh }) {
  return (
    <div className="file-card">
      <span className="file-icon" aria-hidden="true">
        <Icon name="file" />
        <span className="file-tag">{fileTag(attachment.name, attachment.mimeType)}</span>
      </span>
      <span className="file-text">
        <span className="file-name">{attachment.name}</span>
        <span className="muted file-meta">
          {fileKind(attachment.mimeType)} · {formatBytes(attachment.size)}
        </span>
      </span>
      <DownloadLink attachment={attachment} refresh={refresh} className="file-download">
        <Icon name="download" />
        <span>Download</span>
      </DownloadLink>
    </div>
  );
}
