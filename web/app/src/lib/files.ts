/** Files as people read them, and the state of a composer's uploads (pure, tested). */

export interface AttachmentView {
  id: string;
  name: string;
  mimeType: string;
  size: number;
  width: number | null;
  height: number | null;
  url: string;
  thumbnailUrl: string | null;
}

/** The server's own limit (CreateMessageInput.attachmentIds). */
export const MAX_FILES = 10;

const UNITS = ["KB", "MB", "GB", "TB"];

/** 1024-based, as file managers show it: "512 B", "1.5 KB", "25 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
  return `${shown} ${UNITS[unit]}`;
}

/** Shown as a picture: the server made a thumbnail, which it does for raster images only. */
export function isImage(attachment: Pick<AttachmentView, "mimeType" | "thumbnailUrl">): boolean {
  return attachment.mimeType.startsWith("image/") && attachment.thumbnailUrl !== null;
}

const KINDS: [RegExp, string][] = [
  [/^image\//, "Image"],
  [/^audio\//, "Audio"],
  [/^video\//, "Video"],
  [/^application\/pdf$/, "PDF document"],
  [/^text\//, "Text"],
  [/(zip|gzip|x-tar|compressed)/, "Archive"],
  [/(spreadsheet|ms-excel)/, "Spreadsheet"],
  [/(presentation|ms-powerpoint)/, "Presentation"],
  [/(wordprocessing|msword|opendocument\.text)/, "Document"],
];

/** What a file is, in words ("PDF document"), from its type as the server found it. */
export function fileKind(mimeType: string): string {
  return KINDS.find(([re]) => re.test(mimeType))?.[1] ?? "File";
}

/** A short tag for a file icon: its extension ("PDF", "DOCX"), else its kind. */
export function fileTag(name: string, mimeType: string): string {
  const ext = /\.([a-z0-9]{1,4})$/i.exec(name)?.[1];
  if (ext) return ext.toUpperCase();
  return fileKind(mimeType).slice(0, 4).toUpperCase();
}

/** Width and height scaled down (never up) to fit a box, keeping the proportions. */
export function fitWithin(
  width: number | null,
  height: number | null,
  maxWidth: number,
  maxHeight: number,
): { width: number; height: number } | null {
  if (!width || !height) return null;
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** When a signed URL stops working (epoch ms), from its `exp` (epoch seconds); null if unsigned. */
export function urlExpiry(url: string): number | null {
  const exp = /[?&]exp=(\d+)/.exec(url)?.[1];
  return exp ? Number(exp) * 1000 : null;
}

export function isExpired(url: string, now = Date.now(), marginMs = 15_000): boolean {
  const expiry = urlExpiry(url);
  return expiry !== null && expiry - marginMs <= now;
}

/** What a message with files says when there is no text: for previews and announcements. */
export function filesSummary(attachments: readonly { name: string }[]): string {
  if (attachments.length === 0) return "";
  if (attachments.length === 1) return `sent ${attachments[0]?.name ?? "a file"}`;
  return `sent ${attachments.length} files`;
}

// ------------------------------------------------------------------ the composer's uploads

export interface Upload {
  key: string;
  name: string;
  size: number;
  mimeType: string;
  status: "uploading" | "done" | "failed";
  /** Bytes sent so far. */
  loaded: number;
  /** The upload's id once the server has checked it: what the message carries. */
  attachmentId: string | null;
  error: string | null;
  /** A local object URL for images, to show what was picked before it is sent. */
  preview: string | null;
}

export type UploadAction =
  | { type: "add"; uploads: Upload[] }
  | { type: "progress"; key: string; loaded: number }
  | { type: "done"; key: string; attachmentId: string }
  | { type: "failed"; key: string; error: string }
  | { type: "remove"; key: string }
  | { type: "sent"; keys: string[] };

export function uploadsReducer(state: Upload[], action: UploadAction): Upload[] {
  const change = (key: string, patch: Partial<Upload>) =>
    state.map((u) => (u.key === key && u.status === "uploading" ? { ...u, ...patch } : u));
  switch (action.type) {
    case "add":
      return [...state, ...action.uploads];
    case "progress":
      return change(action.key, { loaded: Math.min(action.loaded, state.find((u) => u.key === action.key)?.size ?? 0) });
    case "done":
      return change(action.key, { status: "done", loaded: state.find((u) => u.key === action.key)?.size ?? 0, attachmentId: action.attachmentId });
    case "failed":
      return change(action.key, { status: "failed", error: action.error });
    case "remove":
      return state.filter((u) => u.key !== action.key);
    case "sent":
      return state.filter((u) => !action.keys.includes(u.key));
  }
}

/** Whole percent sent, for the progress bar. */
export function uploadPercent(upload: Pick<Upload, "loaded" | "size" | "status">): number {
  if (upload.status === "done") return 100;
  if (upload.size <= 0) return 0;
  return Math.min(100, Math.floor((upload.loaded / upload.size) * 100));
}

export function uploadsRunning(uploads: readonly Upload[]): boolean {
  return uploads.some((u) => u.status === "uploading");
}

/** The files a message may carry now: uploaded and checked. */
export function readyUploads(uploads: readonly Upload[]): { key: string; id: string; name: string }[] {
  return uploads.flatMap((u) => (u.status === "done" && u.attachmentId ? [{ key: u.key, id: u.attachmentId, name: u.name }] : []));
}

/** Send needs text or a file, and no upload still on its way. */
export function canSend(text: string, uploads: readonly Upload[]): boolean {
  if (uploadsRunning(uploads)) return false;
  return text.trim() !== "" || readyUploads(uploads).length > 0;
}

/** How many more files fit on one message (failed ones do not count: they will not be sent). */
export function roomForFiles(uploads: readonly Upload[]): number {
  return Math.max(0, MAX_FILES - uploads.filter((u) => u.status !== "failed").length);
}
