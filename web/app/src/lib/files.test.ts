import { CombinedGraphQLErrors } from "@apollo/client";
import type { FieldFunctionOptions, Reference } from "@apollo/client/cache";
import { describe, expect, it } from "vitest";
import {
  canSend,
  fileKind,
  filesSummary,
  fileTag,
  fitWithin,
  formatBytes,
  isExpired,
  isImage,
  MAX_FILES,
  readyUploads,
  roomForFiles,
  uploadPercent,
  uploadsReducer,
  uploadsRunning,
  urlExpiry,
  type Upload,
} from "./files";
import { mergeReplyPages } from "./messageCache";
import { describeUploadError, putFailure, UploadError } from "./upload";

describe("formatBytes", () => {
  it("reads like a file manager", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1 KB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(20 * 1024)).toBe("20 KB");
    expect(formatBytes(25 * 1024 * 1024)).toBe("25 MB");
    expect(formatBytes(3.25 * 1024 ** 3)).toBe("3.3 GB");
  });
});

describe("what a file is", () => {
  it("names kinds and tags from the type and the name", () => {
    expect(fileKind("application/pdf")).toBe("PDF document");
    expect(fileKind("text/plain")).toBe("Text");
    expect(fileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")).toBe("Spreadsheet");
    expect(fileKind("application/zip")).toBe("Archive");
    expect(fileKind("application/x-unknown")).toBe("File");
    expect(fileTag("report.pdf", "application/pdf")).toBe("PDF");
    expect(fileTag("notes", "text/plain")).toBe("TEXT");
  });

  it("shows pictures only when the server made a thumbnail", () => {
    expect(isImage({ mimeType: "image/png", thumbnailUrl: "/t" })).toBe(true);
    expect(isImage({ mimeType: "image/svg+xml", thumbnailUrl: null })).toBe(false);
    expect(isImage({ mimeType: "application/pdf", thumbnailUrl: null })).toBe(false);
  });
});

describe("fitWithin", () => {
  it("scales down, never up, keeping proportions", () => {
    expect(fitWithin(1600, 1200, 320, 240)).toEqual({ width: 320, height: 240 });
    expect(fitWithin(1000, 4000, 320, 240)).toEqual({ width: 60, height: 240 });
    expect(fitWithin(40, 30, 320, 240)).toEqual({ width: 40, height: 30 });
    expect(fitWithin(null, 30, 320, 240)).toBeNull();
  });
});

describe("signed URLs", () => {
  const url = "/files/abc/file/a.png?exp=1796479500&sig=x";
  it("expire at their exp", () => {
    expect(urlExpiry(url)).toBe(1796479500_000);
    expect(urlExpiry("/files/abc/avatar")).toBeNull();
    expect(isExpired(url, 1796479500_000 - 60_000)).toBe(false);
    expect(isExpired(url, 1796479500_000 - 5_000)).toBe(true);
    expect(isExpired("/files/abc/avatar", Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe("filesSummary", () => {
  it("says what was sent without text", () => {
    expect(filesSummary([])).toBe("");
    expect(filesSummary([{ name: "a.png" }])).toBe("sent a.png");
    expect(filesSummary([{ name: "a.png" }, { name: "b.pdf" }])).toBe("sent 2 files");
  });
});

function upload(key: string, change: Partial<Upload> = {}): Upload {
  return {
    key,
    name: `${key}.png`,
    size: 1000,
    mimeType: "image/png",
    status: "uploading",
    loaded: 0,
    attachmentId: null,
    error: null,
    preview: null,
    ...change,
  };
}

describe("the upload tray", () => {
  it("follows progress to done, and Send waits for every upload", () => {
    let state = uploadsReducer([], { type: "add", uploads: [upload("a"), upload("b")] });
    expect(uploadsRunning(state)).toBe(true);
    expect(canSend("hello", state)).toBe(false);
    state = uploadsReducer(state, { type: "progress", key: "a", loaded: 500 });
    expect(state[0] && uploadPercent(state[0])).toBe(50);
    state = uploadsReducer(state, { type: "progress", key: "a", loaded: 5000 }); // never past the size
    expect(state[0] && uploadPercent(state[0])).toBe(100);
    state = uploadsReducer(state, { type: "done", key: "a", attachmentId: "id-a" });
    state = uploadsReducer(state, { type: "failed", key: "b", error: "Files of type x are not allowed here" });
    expect(state[1]).toMatchObject({ status: "failed", error: "Files of type x are not allowed here" });
    // A failed file does not hold Send back, and is not sent.
    expect(canSend("", state)).toBe(true);
    expect(readyUploads(state)).toEqual([{ key: "a", id: "id-a", name: "a.png" }]);
    state = uploadsReducer(state, { type: "sent", keys: ["a"] });
    expect(state.map((u) => u.key)).toEqual(["b"]);
    expect(canSend("", state)).toBe(false);
    state = uploadsReducer(state, { type: "remove", key: "b" });
    expect(state).toEqual([]);
  });

  it("ignores late events for an upload that is over", () => {
    let state = [upload("a", { status: "done", loaded: 1000, attachmentId: "id-a" })];
    state = uploadsReducer(state, { type: "failed", key: "a", error: "late" });
    state = uploadsReducer(state, { type: "progress", key: "a", loaded: 3 });
    expect(state[0]).toMatchObject({ status: "done", loaded: 1000, error: null });
    expect(uploadsReducer(state, { type: "progress", key: "gone", loaded: 3 })).toEqual(state);
  });

  it("takes at most ten files, not counting failed ones", () => {
    const nine = Array.from({ length: 9 }, (_, i) => upload(`u${i}`));
    expect(roomForFiles(nine)).toBe(1);
    expect(roomForFiles([...nine, upload("x"), upload("y", { status: "failed" })])).toBe(0);
    expect(roomForFiles([upload("y", { status: "failed" })])).toBe(MAX_FILES);
  });
});

describe("upload errors", () => {
  it("explain a refused PUT", () => {
    expect(putFailure(413, "")).toMatch(/grew/);
    expect(putFailure(403, '{"error":"the upload URL is invalid or has expired"}')).toMatch(/expired/);
    expect(putFailure(409, '{"error":"The upload is complete already"}')).toBe("The upload is complete already");
    expect(putFailure(502, "<html>")).toBe("The upload failed (HTTP 502).");
  });

  it("give the server's limit in words, and its message otherwise", () => {
    const tooLarge = new CombinedGraphQLErrors({
      errors: [{ message: "The file is larger than the limit of 26214400 bytes", extensions: { code: "BAD_USER_INPUT", maxBytes: 26214400 } }],
    });
    expect(describeUploadError(tooLarge)).toBe("The file is larger than the limit of 25 MB.");
    const type = new CombinedGraphQLErrors({
      errors: [{ message: "Files of type application/x-msdownload are not allowed here", extensions: { code: "BAD_USER_INPUT" } }],
    });
    expect(describeUploadError(type)).toBe("Files of type application/x-msdownload are not allowed here");
    expect(describeUploadError(new UploadError("The upload link expired; attach the file again."))).toMatch(/expired/);
  });
});

describe("mergeReplyPages", () => {
  const seqs: Record<string, number> = { "Message:a": 1, "Message:b": 2, "Message:c": 3, "Message:d": 4 };
  const ref = (id: string): Reference => ({ __ref: `Message:${id}` });
  const options = (nextToken?: string) =>
    ({
      args: nextToken ? { limit: 40, nextToken } : { limit: 40 },
      readField: (_field: string, from: Reference) => seqs[from.__ref],
    }) as unknown as FieldFunctionOptions;

  it("keeps a thread oldest first when a live reply comes before the next page", () => {
    const first = mergeReplyPages(undefined, { items: [ref("a"), ref("b")], nextToken: "t1" }, options());
    const live = mergeReplyPages(first, { items: [ref("a"), ref("b"), ref("d")], nextToken: "t1" }, options());
    expect(live.nextToken).toBe("t1");
    const more = mergeReplyPages(live, { items: [ref("c"), ref("d")], nextToken: null }, options("t1"));
    expect(more.items.map((r) => r.__ref)).toEqual(["Message:a", "Message:b", "Message:c", "Message:d"]);
    expect(more.nextToken).toBeNull();
  });
});
