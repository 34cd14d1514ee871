import type { ReactNode } from "react";
import { isExpired, type AttachmentView } from "../lib/files";

export type Refresh = () => Promise<AttachmentView[] | null>;

/** A link that saves the file; an expired one is signed again first. */
export function DownloadLink({
  attachment,
  refresh,
  className,
  children,
}: {
  attachment: AttachmentView;
  refresh: Refresh;
  className?: string;
  children: ReactNode;
}) {
  return (
    <a
      href={attachment.url}
      download={attachment.name}
      className={className}
      onClick={(event) => {
        if (!isExpired(attachment.url)) return;
        event.preventDefault();
        void refresh().then((fresh) => {
          const url = fresh?.find((a) => a.id === attachment.id)?.url;
          if (!url) return;
          const link = document.createElement("a");
          link.href = url;
          link.download = attachment.name;
          link.click();
        });
      }}
    >
      {children}
      <span className="visually-hidden"> {attachment.name}</span>
    </a>
  );
}
