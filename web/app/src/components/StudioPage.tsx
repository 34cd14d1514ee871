import { useMutation, useQuery } from "@apollo/client/react";
import { useId, useState, type ReactNode } from "react";
import {
  CancelStreamDocument,
  DeleteStreamRecordingDocument,
  EndStreamDocument,
  StreamsDocument,
  StudioStreamDocument,
  type StreamCardFragment,
} from "../gql/graphql";
import { describeError } from "../lib/errors";
import { formatDay, formatTime } from "../lib/format";
import { navigate, streamPath, studioPath } from "../lib/router";
import type { SessionUser } from "../lib/session";
import { STATUS_LABEL, watchingLabel } from "../lib/streams";
import { Dialog } from "./Dialog";
import { StreamAnalyticsView } from "./StreamAnalyticsView";
import { StreamForm } from "./StreamForm";
import { StreamKeyPanel } from "./StreamKeyPanel";

/** While a stream may go live or end any moment, the studio looks again this often. */
const STATUS_REFRESH_MS = 5_000;

function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  return (
    <a
      href={to}
      className={className}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

function when(stream: StreamCardFragment): string {
  const at = (iso: string) => `${formatDay(iso)}, ${formatTime(iso)}`;
  if (stream.status === "LIVE" && stream.startedAt) return `Live since ${formatTime(stream.startedAt)}`;
  if (stream.status === "ENDED" && stream.endedAt) return `Ended ${at(stream.endedAt)}`;
  if (stream.status === "SCHEDULED" && stream.scheduledStart) return `Planned for ${at(stream.scheduledStart)}`;
  if (stream.status === "SCHEDULED") return "Ready whenever you go live";
  return `Created ${at(stream.createdAt)}`;
}

/** The creator studio: my streams, newest first, and a new one. */
export function StudioPage({ me }: { me: SessionUser }) {
  const [creating, setCreating] = useState(false);
  const [more, setMore] = useState(false);
  const { data, loading, error, fetchMore } = useQuery(StreamsDocument, {
    variables: { creatorId: me.id, limit: 20 },
    fetchPolicy: "cache-and-network",
  });
  const items = data?.streams.items ?? [];
  const nextToken = data?.streams.nextToken ?? null;

  async function showMore() {
    if (!nextToken) return;
    setMore(true);
    try {
      await fetchMore({ variables: { nextToken } });
    } finally {
      setMore(false);
    }
  }

  return (
    <div className="page studio">
      <header className="page-head">
        <h1>Creator studio</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New stream
        </button>
      </header>
      {error && !data && <p className="form-error">{describeError(error)}</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && items.length === 0 && (
        <p className="muted">You have no streams yet. Create one, put its key into OBS, and go live.</p>
      )}
      <ul className="studio-list" aria-label="My streams">
        {items.map((stream) => (
          <li key={stream.id}>
            <div className="studio-item-text">
              <Link to={studioPath(stream.id)} className="stream-title">
                {stream.title}
              </Link>
              <span className="muted">{when(stream)}</span>
            </div>
            <span className={`status-badge status-${stream.status.toLowerCase()}`}>{STATUS_LABEL[stream.status]}</span>
          </li>
        ))}
      </ul>
      {nextToken && (
        <button type="button" className="more" disabled={more} onClick={() => void showMore()}>
          Show more
        </button>
      )}
      {creating && (
        <Dialog title="New stream" onClose={() => setCreating(false)}>
          <StreamForm
            onCancel={() => setCreating(false)}
            onSaved={(stream) => {
              setCreating(false);
              navigate(studioPath(stream.id));
            }}
          />
        </Dialog>
      )}
    </div>
  );
}

type Confirm = "cancel" | "end" | "delete-recording";

const CONFIRM: Readonly<Record<Confirm, { title: string; text: string; action: string; keep: string }>> = {
  cancel: {
    title: "Cancel this stream?",
    text: "It will not go live, and its key stops working. Viewers see that it was cancelled.",
    action: "Cancel stream",
    keep: "Keep it",
  },
  end: {
    title: "End the stream now?",
    text: "The broadcast is cut off for everyone, and the stream cannot go live again.",
    action: "End stream",
    keep: "Keep streaming",
  },
  "delete-recording": {
    title: "Delete the recording?",
    text: "The replay is removed for good; nobody can watch it any more.",
    action: "Delete recording",
    keep: "Keep it",
  },
};

/** One of my streams: going live, details, cancel/end, the recording, analytics. */
export function StudioStreamPage({ streamId, me }: { streamId: string; me: SessionUser }) {
  const [watching, setWatching] = useState(true);
  // Polled, not watched: a watchStream subscription would count the creator as a viewer.
  const { data, loading, error } = useQuery(StudioStreamDocument, {
    variables: { id: streamId },
    pollInterval: watching ? STATUS_REFRESH_MS : 0,
  });
  const stream = data?.getStream ?? null;
  const settled = stream ? stream.status === "ENDED" || stream.status === "CANCELLED" : false;
  if (settled === watching) setWatching(!settled); // an ended stream changes only by my own hand
  const [cancel] = useMutation(CancelStreamDocument);
  const [end] = useMutation(EndStreamDocument);
  const [deleteRecording] = useMutation(DeleteStreamRecordingDocument);
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const actionsId = useId();

  if (loading && !stream) return <p className="muted pad">Loading…</p>;
  if (!stream || (stream.creator.id !== me.id && me.role !== "ADMIN")) {
    return (
      <div className="page">
        <h1>Stream not found</h1>
        <p>{error ? describeError(error) : "It is not one of your streams."}</p>
        <p>
          <Link to={studioPath()}>Back to the studio</Link>
        </p>
      </div>
    );
  }

  async function act(kind: Confirm) {
    if (!stream) return;
    setBusy(true);
    setActionError(null);
    try {
      if (kind === "cancel") await cancel({ variables: { id: stream.id } });
      if (kind === "end") await end({ variables: { id: stream.id } });
      if (kind === "delete-recording") await deleteRecording({ variables: { streamId: stream.id } });
      setStatus(
        kind === "cancel" ? "The stream is cancelled." : kind === "end" ? "The stream has ended." : "The recording is deleted.",
      );
    } catch (err) {
      setActionError(describeError(err));
    } finally {
      setBusy(false);
      setConfirm(null);
    }
  }

  const live = stream.status === "LIVE";
  const actions: Confirm[] = [];
  if (stream.status === "SCHEDULED") actions.push("cancel");
  if (live) actions.push("end");
  if (stream.status === "ENDED" && stream.hasRecording) actions.push("delete-recording");

  return (
    <div className="page studio">
      <p className="crumbs">
        <Link to={studioPath()}>‹ Creator studio</Link>
      </p>
      <header className="page-head">
        <div>
          <h1>{stream.title}</h1>
          <p className="muted">
            {when(stream)}
            {live && ` · ${watchingLabel(stream.viewerCount)}`}
          </p>
        </div>
        <span className={`status-badge status-${stream.status.toLowerCase()}`}>{STATUS_LABEL[stream.status]}</span>
        <Link to={streamPath(stream.id)} className="button-link">
          Watch page
        </Link>
      </header>
      <p className="visually-hidden" role="status">
        {status}
      </p>
      {(stream.status === "SCHEDULED" || live) && <StreamKeyPanel streamId={stream.id} live={live} />}
      {(live || stream.status === "ENDED") && <StreamAnalyticsView streamId={stream.id} live={live} />}
      {stream.status !== "CANCELLED" && (
        <section className="studio-section" aria-labelledby={`${actionsId}-details`}>
          <h2 id={`${actionsId}-details`}>Details</h2>
          <StreamForm key={stream.status} stream={stream} onSaved={() => undefined} />
        </section>
      )}
      {actions.length > 0 && (
        <section className="studio-section" aria-labelledby={actionsId}>
          <h2 id={actionsId}>{live ? "Broadcast" : stream.status === "ENDED" ? "Recording" : "Plans changed?"}</h2>
          {stream.status === "ENDED" && <p className="muted">The replay stays available on the watch page until you delete it.</p>}
          {actionError && (
            <p className="form-error" role="alert">
              {actionError}
            </p>
          )}
          <div className="dialog-actions start">
            {actions.map((kind) => (
              <button key={kind} type="button" className="danger" disabled={busy} onClick={() => setConfirm(kind)}>
                {CONFIRM[kind].action}
              </button>
            ))}
          </div>
        </section>
      )}
      {confirm && (
        <Dialog title={CONFIRM[confirm].title} onClose={() => setConfirm(null)}>
          <p>{CONFIRM[confirm].text}</p>
          <div className="dialog-actions">
            <button type="button" onClick={() => setConfirm(null)}>
              {CONFIRM[confirm].keep}
            </button>
            <button type="button" className="danger" disabled={busy} onClick={() => void act(confirm)}>
              {CONFIRM[confirm].action}
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}
