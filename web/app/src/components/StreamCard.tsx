import { useState } from "react";
import type { StreamCardFragment } from "../gql/graphql";
import { formatDay, formatTime, nameOf } from "../lib/format";
import { navigate, streamPath } from "../lib/router";
import { watchingLabel } from "../lib/streams";

/** A stream in a list: thumbnail, live badge and viewers, title, who, when; a link to watch. */
export function StreamCard({ stream, onTag }: { stream: StreamCardFragment; onTag?: (tag: string) => void }) {
  const [broken, setBroken] = useState(false);
  const when =
    stream.status === "SCHEDULED" && stream.scheduledStart
      ? `${formatDay(stream.scheduledStart)}, ${formatTime(stream.scheduledStart)}`
      : stream.status === "SCHEDULED"
        ? "Not scheduled yet"
        : stream.status === "ENDED" && stream.endedAt
          ? `Ended ${formatDay(stream.endedAt)}`
          : null;
  return (
    <li className="stream-card">
      <a
        className="stream-link"
        href={streamPath(stream.id)}
        onClick={(e) => {
          if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
          e.preventDefault();
          navigate(streamPath(stream.id));
        }}
      >
        <span className="thumb-box">
          {stream.thumbnailUrl && !broken ? (
            <img src={stream.thumbnailUrl} alt="" loading="lazy" onError={() => setBroken(true)} />
          ) : (
            <span className="thumb-placeholder" aria-hidden="true">
              ▶
            </span>
          )}
          {stream.status === "LIVE" && (
            <span className="thumb-badges">
              <span className="live-badge">Live</span>
              <span className="thumb-viewers">{watchingLabel(stream.viewerCount)}</span>
            </span>
          )}
        </span>
        <span className="stream-card-text">
          <span className="stream-title">{stream.title}</span>
          <span className="muted">{nameOf(stream.creator)}</span>
          {(stream.category || when) && (
            <span className="muted stream-card-meta">{[stream.category, when].filter(Boolean).join(" · ")}</span>
          )}
        </span>
      </a>
      <StreamTags tags={stream.tags} onTag={onTag} />
    </li>
  );
}

/** A stream's tags: buttons that filter by them where a list can, else plain labels. */
export function StreamTags({ tags, onTag }: { tags: readonly string[]; onTag?: ((tag: string) => void) | undefined }) {
  if (!tags.length) return null;
  return (
    <ul className="stream-tags" aria-label="Tags">
      {tags.map((tag) => (
        <li key={tag}>
          {onTag ? (
            <button type="button" className="tag-button" onClick={() => onTag(tag)}>
              #{tag}
              <span className="visually-hidden"> (show streams with this tag)</span>
            </button>
          ) : (
            <span className="tag">#{tag}</span>
          )}
        </li>
      ))}
    </ul>
  );
}
