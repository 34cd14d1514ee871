/**
 * One file to the server: a ticket (createUpload), the bytes sent straight to where the ticket
 * says (ChatQL's own endpoint, or a presigned S3 URL), then completeUpload, which checks them.
 * The bytes go with XMLHttpRequest, not fetch, for its upload progress events.
 */
import type { ApolloClient } from "@apollo/client";
import { CombinedGraphQLErrors } from "@apollo/client";
import { CompleteUploadDocument, CreateUploadDocument, type CompleteUploadMutation } from "../gql/graphql";
import { describeError } from "./errors";
import { formatBytes } from "./files";

export type Checked = CompleteUploadMutation["completeUpload"];

interface Ticket {
  url: string;
  method: string;
  headers: { name: string; value: string }[];
}

/** A failure with a message for people (the upload endpoint answers JSON `{error}`). */
export class UploadError extends Error {}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

function aborted(): DOMException {
  return new DOMException("The upload was cancelled", "AbortError");
}

/** What a failed PUT means to someone who picked a file. */
export function putFailure(status: number, body: string): string {
  if (status === 413) return "The file grew while it was being sent; attach it again.";
  if (status === 403) return "The upload link expired; attach the file again.";
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const text = parsed.error ?? parsed.message;
    if (typeof text === "string" && text) return text;
  } catch {
    /* not JSON (a proxy's page, an S3 XML error) */
  }
  return `The upload failed (HTTP ${status}).`;
}

export function putFile(
  ticket: Ticket,
  file: Blob,
  onProgress: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const xhr = new XMLHttpRequest();
    xhr.open(ticket.method || "PUT", ticket.url);
    for (const header of ticket.headers) {
      try {
        xhr.setRequestHeader(header.name, header.value);
      } catch {
        /* a header the browser sets itself (Content-Length) */
      }
    }
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new UploadError(putFailure(xhr.status, xhr.responseText)));
    };
    xhr.onerror = () => reject(new UploadError("The upload failed: you appear to be offline."));
    xhr.onabort = () => reject(aborted());
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

/** A message for a failed upload; the server's own words where it gave some. */
export function describeUploadError(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) {
    const max = error.errors[0]?.extensions?.["maxBytes"];
    if (typeof max === "number") return `The file is larger than the limit of ${formatBytes(max)}.`;
  }
  if (error instanceof UploadError) return error.message;
  return describeError(error);
}

/** Upload `file` and have the server check it; resolves to the attachable upload. */
export async function uploadFile(
  client: ApolloClient,
  file: File,
  onProgress: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<Checked> {
  const context = { fetchOptions: { signal } };
  const created = await client.mutate({
    mutation: CreateUploadDocument,
    variables: { input: { filename: file.name || "file", mimeType: file.type || "application/octet-stream", size: file.size } },
    context,
  });
  const ticket = created.data?.createUpload;
  if (!ticket) throw new UploadError("The server did not accept the upload.");
  if (signal?.aborted) throw aborted();
  await putFile(ticket, file, onProgress, signal);
  const completed = await client.mutate({
    mutation: CompleteUploadDocument,
    variables: { uploadId: ticket.uploadId },
    context,
  });
  const checked = completed.data?.completeUpload;
  if (!checked) throw new UploadError("The server could not check the file.");
  return checked;
}
