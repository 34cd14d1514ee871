import { createContext, useCallback, useContext, useState, type ReactNode } from "react";
import { formatBytes, type AttachmentView } from "../lib/files";
import { useFreshAttachments } from "../lib/useFreshAttachments";
import { DownloadLink } from "./DownloadLink";
import { Dialog } from "./Dialog";

type Open = (messageId: string, attachment: AttachmentView) => void;

const OpenImage = createContext<Open>(() => undefined);

export function useOpenImage(): Open {
  return useContext(OpenImage);
}

/**
 * The image viewer of a room. It lives above the message list, not in a message: the list is
 * virtualised, and a message scrolled away (a busy room) must not take an open viewer with it.
 */
export function ImageViewer({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState<{ messageId: string; attachment: AttachmentView } | null>(null);
  const show = useCallback<Open>((messageId, attachment) => setOpen({ messageId, attachment }), []);
  return (
    <OpenImage.Provider value={show}>
      {children}
      {open && (
        <Lightbox
          key={open.attachment.id}
          messageId={open.messageId}
          attachment={open.attachment}
          onFresh={(attachment) => setOpen({ messageId: open.messageId, attachment })}
          onClose={() => setOpen(null)}
        />
      )}
    </OpenImage.Provider>
  );
}

function Lightbox({
  messageId,
  attachment,
  onFresh,
  onClose,
}: {
  messageId: string;
  attachment: AttachmentView;
  onFresh: (attachment: AttachmentView) => void;
  onClose: () => void;
}) {
  const refresh = useFreshAttachments(messageId);
  const [failed, setFailed] = useState<string | null>(null);
  return (
    <Dialog title={attachment.name} onClose={onClose} className="lightbox" dismissible>
      <figure className="lightbox-figure">
        {failed === attachment.url ? (
          <p className="muted lightbox-missing">The image could not be loaded.</p>
        ) : (
          <img
            src={attachment.url}
            alt={attachment.name}
            width={attachment.width ?? undefined}
            height={attachment.height ?? undefined}
            onError={() => {
              setFailed(attachment.url);
              void refresh().then((fresh) => {
                const again = fresh?.find((a) => a.id === attachment.id);
                if (again && again.url !== attachment.url) onFresh(again);
              });
            }}
          />
        )}
        <figcaption className="lightbox-meta">
          <span className="muted">
            {attachment.width && attachment.height ? `${attachment.width} × ${attachment.height} · ` : ""}
            {formatBytes(attachment.size)}
          </span>
          <DownloadLink attachment={attachment} refresh={refresh} className="button-link">
            Download
          </DownloadLink>
        </figcaption>
      </figure>
    </Dialog>
  );
}
