import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { FollowUserDocument, StreamDocument, UnfollowUserDocument, WatchStreamDocument, type StreamQuery } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { formatDay, formatTime, nameOf } from "../lib/format";
import { navigate } from "../lib/router";
import type { SessionUser } from "../lib/session";
import { countdown, plural, ratingSummary, STATUS_LABEL, watchingLabel } from "../lib/streams";
import { useLive } from "../lib/useLive";
import { useNow } from "../lib/useNow";
import { Avatar } from "./Avatar";
import { StreamChat } from "./StreamChat";
import { StreamPlayer } from "./StreamPlayer";
import { StreamRating } from "./StreamRating";
import { StreamTags } from "./StreamCard";

type WatchedStream = NonNullable<StreamQuery["getStream"]>;

const ANNOUNCE: Readonly<Record<string, string>> = {
  LIVE: "The stream is live.",
  ENDED: "The stream has ended.",
  CANCELLED: "The stream was cancelled.",
};

/**
 * One stream: the video (or what stands in for it: a countdown, the end, the replay), who
 * streams it with a follow button, and its live chat beside it (under it on a phone).
 * While the page is open, `watchStream` keeps status and viewer count current in the cache,
 * and this watcher counts as a viewer.
 */
export function StreamWatchPage({ streamId, me }: { streamId: string; me: SessionUser }) {
  const { data, loading, error } = useQuery(StreamDocument, { variables: { id: streamId } });
  const stream = data?.getStream ?? null;
  useLive(WatchStreamDocument, { variables: { streamId }, skip: !stream || stream.status === "CANCELLED" });

  const title = stream?.title ?? "";
  useEffect(() => {
    document.title = title ? `${title} · ChatQL` : "ChatQL";
    return () => {
      document.title = "ChatQL";
    };
  }, [title]);

  // Say so when the status changes while watching (not for the status found on arrival).
  const [announcement, setAnnouncement] = useState("");
  const lastStatus = useRef<string | null>(null);
  const status = stream?.status ?? null;
  useEffect(() => {
    if (status && lastStatus.current && lastStatus.current !== status) setAnnouncement(ANNOUNCE[status] ?? "");
    lastStatus.current = status;
  }, [status]);

  if (loading && !stream) return <p className="muted pad">Loading…</p>;
  if (!stream) {
    return (
      <div className="pad">
        <h1>Stream not found</h1>
        <p>{error ? describeError(error) : "It may have been removed."}</p>
        <p>
          <a
            href="/streams"
            onClick={(e) => {
              e.preventDefault();
              navigate("/streams");
            }}
          >
            Browse streams
          </a>
        </p>
      </div>
    );
  }

  const mine = stream.creator.id === me.id;
  return (
    <div className="watch">
      <section className="watch-main" aria-labelledby="watch-title">
        <StreamStage stream={stream} />
        <div className="watch-info">
          <div className="watch-title-row">
            <h1 id="watch-title">{stream.title}</h1>
            <p className="watch-status">
              <span className={`status-badge status-${stream.status.toLowerCase()}`}>{STATUS_LABEL[stream.status]}</span>
              {stream.status === "LIVE" && <span className="viewer-count">{watchingLabel(stream.viewerCount)}</span>}
            </p>
          </div>
          <div className="creator-row">
            <Avatar user={stream.creator} />
            <div className="creator-text">
              <strong>{nameOf(stream.creator)}</strong>
              <span className="muted">
                @{stream.creator.username} · {plural(stream.creator.followerCount, "follower")}
              </span>
            </div>
            {!mine && me.role !== "GUEST" && <FollowButton creator={stream.creator} />}
          </div>
          <StreamMeta stream={stream} />
          {stream.description && <p className="watch-description">{stream.description}</p>}
          {stream.status === "ENDED" && !mine && <StreamRating stream={stream} guest={me.role === "GUEST"} />}
        </div>
        <p className="visually-hidden" role="status">
          {announcement}
        </p>
      </section>
      <StreamChat roomId={stream.chatRoom.id} me={me} />
    </div>
  );
}

/** Where the video goes: the player while live or for a replay, else what the stream is waiting for. */
function StreamStage({ stream }: { stream: WatchedStream }) {
  const now = useNow(1_000, stream.status === "SCHEDULED" && Boolean(stream.scheduledStart));
  if (stream.status === "LIVE" && stream.playbackUrl) {
    return <StreamPlayer key={`live-${stream.playbackUrl}`} src={stream.playbackUrl} live title={stream.title} poster={stream.thumbnailUrl} />;
  }
  if (stream.status === "ENDED" && stream.playbackUrl) {
    return (
      <>
        <p className="stage-note">This stream has ended. Watch the replay:</p>
        <StreamPlayer key={`replay-${stream.playbackUrl}`} src={stream.playbackUrl} live={false} title={stream.title} poster={stream.thumbnailUrl} />
      </>
    );
  }
  let body: ReactNode;
  if (stream.status === "SCHEDULED") {
    const left = stream.scheduledStart ? countdown(stream.scheduledStart, now) : null;
    body =
      left && !left.past ? (
        <>
          <p className="stage-label">Starts in</p>
          <p className="countdown" role="timer" aria-label={`Starts in ${left.words}`}>
            {left.clock}
          </p>
          {stream.scheduledStart && (
            <p className="muted">
              {formatDay(stream.scheduledStart)} at {formatTime(stream.scheduledStart)}
            </p>
          )}
        </>
      ) : (
        <p className="stage-label">Starting soon: waiting for the broadcaster.</p>
      );
  } else if (stream.status === "LIVE") {
    body = <p className="stage-label">This stream is live, but its video is not available on this server.</p>;
  } else if (stream.status === "ENDED") {
    body = (
      <>
        <p className="stage-label">This stream has ended.</p>
        <p className="muted">There is no replay of it.</p>
      </>
    );
  } else {
    body = <p className="stage-label">This stream was cancelled.</p>;
  }
  return <div className="stage">{body}</div>;
}

function StreamMeta({ stream }: { stream: WatchedStream }) {
  const rating = ratingSummary(stream.averageRating, stream.ratingCount);
  const when =
    stream.status === "LIVE" && stream.startedAt
      ? `Live since ${formatTime(stream.startedAt)}`
      : stream.status === "ENDED" && stream.endedAt
        ? `Streamed ${formatDay(stream.endedAt)} · peak ${plural(stream.peakViewers, "viewer")}`
        : null;
  return (
    <div className="watch-meta">
      {when && <span className="muted">{when}</span>}
      {stream.category && <span className="tag">{stream.category}</span>}
      {rating && <span className="muted">{rating}</span>}
      <StreamTags tags={stream.tags} />
    </div>
  );
}

/** Follow (hear when they go live) or unfollow; the count follows at once. */
function FollowButton({ creator }: { creator: WatchedStream["creator"] }) {
  const client = useApolloClient();
  const [follow] = useMutation(FollowUserDocument);
  const [unfollow] = useMutation(UnfollowUserDocument);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const following = creator.isFollowedByMe;
  const name = nameOf(creator);

  async function toggle() {
    setBusy(true);
    setError(null);
    try {
      if (following) await unfollow({ variables: { userId: creator.id } });
      else await follow({ variables: { userId: creator.id } });
      const id = client.cache.identify({ __typename: "User", id: creator.id });
      client.cache.modify({
        id,
        fields: {
          isFollowedByMe: () => !following,
          followerCount: (n: number) => Math.max(0, n + (following ? -1 : 1)),
        },
      });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="follow">
      <button type="button" className={following ? "" : "primary"} disabled={busy} onClick={() => void toggle()}>
        {following ? "Unfollow" : "Follow"}
        <span className="visually-hidden"> {name}</span>
      </button>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
