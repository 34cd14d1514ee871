import { useQuery } from "@apollo/client/react";
import { useId, useState } from "react";
import { StreamCategoriesDocument, StreamsDocument, type StreamStatus } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { navigate, studioPath } from "../lib/router";
import type { SessionUser } from "../lib/session";
import { parseTags } from "../lib/streams";
import { useDebounced } from "../lib/useDebounced";
import { StreamCard } from "./StreamCard";

interface Filters {
  search: string | null;
  category: string | null;
  tag: string | null;
}

const PAGE = 12;
/** Viewer counts on the cards, refreshed this often (watching each would count as a viewer). */
const LIVE_REFRESH_MS = 15_000;

/**
 * The streams directory: live now (with viewers), upcoming, and replays, filtered by a search,
 * a category and a tag; each list pages on with "Show more".
 */
export function StreamsPage({ me }: { me: SessionUser }) {
  const [search, setSearch] = useState("");
  const [tagText, setTagText] = useState("");
  const [category, setCategory] = useState<string | null>(null);
  const searchId = useId();
  const tagId = useId();
  const tagHintId = useId();
  const categories = useQuery(StreamCategoriesDocument, { fetchPolicy: "cache-and-network" });

  const term = useDebounced(search.trim(), 300);
  const typedTag = useDebounced(tagText, 300);
  const parsedTag = parseTags(typedTag);
  const tag = parsedTag.tags[0] ?? null;
  const filters: Filters = { search: term || null, category, tag };
  const filtered = Boolean(filters.search || filters.category || filters.tag);

  return (
    <div className="page streams-page">
      <header className="page-head">
        <h1>Streams</h1>
        {me.role !== "GUEST" && (
          <a
            className="button-link"
            href={studioPath()}
            onClick={(e) => {
              e.preventDefault();
              navigate(studioPath());
            }}
          >
            Creator studio
          </a>
        )}
      </header>
      <div className="stream-filters" role="search" aria-label="Streams">
        <div className="filter">
          <label htmlFor={searchId}>Search streams</label>
          <input
            id={searchId}
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            autoComplete="off"
            placeholder="Title or description"
          />
        </div>
        <div className="filter">
          <label htmlFor={tagId}>Tag</label>
          <input
            id={tagId}
            type="search"
            value={tagText}
            onChange={(e) => setTagText(e.target.value)}
            autoComplete="off"
            placeholder="#tag"
            aria-describedby={parsedTag.invalid.length ? tagHintId : undefined}
            aria-invalid={parsedTag.invalid.length ? true : undefined}
          />
          {parsedTag.invalid.length > 0 && (
            <p id={tagHintId} className="field-hint form-error">
              Tags are letters, digits and dashes.
            </p>
          )}
        </div>
      </div>
      {(categories.data?.streamCategories.length ?? 0) > 0 && (
        <div className="chips category-chips" role="group" aria-label="Category">
          <button type="button" className="chip-button" aria-pressed={category === null} onClick={() => setCategory(null)}>
            All
          </button>
          {categories.data?.streamCategories.map((c) => (
            <button
              key={c.name}
              type="button"
              className="chip-button"
              aria-pressed={category === c.name}
              onClick={() => setCategory(category === c.name ? null : c.name)}
            >
              {c.name}
              {c.liveCount > 0 && <span className="chip-count"> · {c.liveCount} live</span>}
            </button>
          ))}
        </div>
      )}
      <StreamSection
        title="Live now"
        status="LIVE"
        filters={filters}
        empty={filtered ? "No live stream matches." : "Nobody is live right now."}
        onTag={setTagText}
      />
      <StreamSection
        title="Upcoming"
        status="SCHEDULED"
        filters={filters}
        empty={filtered ? "No upcoming stream matches." : "Nothing is scheduled yet."}
        onTag={setTagText}
      />
      <StreamSection
        title="Replays"
        status="ENDED"
        filters={filters}
        empty={filtered ? "No replay matches." : "No replays yet."}
        onTag={setTagText}
      />
    </div>
  );
}

function StreamSection({
  title,
  status,
  filters,
  empty,
  onTag,
}: {
  title: string;
  status: StreamStatus;
  filters: Filters;
  empty: string;
  onTag: (tag: string) => void;
}) {
  const headingId = useId();
  const [more, setMore] = useState(false);
  const [moreError, setMoreError] = useState<string | null>(null);
  const { data, loading, error, fetchMore, stopPolling } = useQuery(StreamsDocument, {
    variables: { ...filters, status, limit: PAGE },
    fetchPolicy: "cache-and-network",
    nextFetchPolicy: "cache-first",
    pollInterval: status === "LIVE" ? LIVE_REFRESH_MS : 0,
  });
  const items = data?.streams.items ?? [];
  const nextToken = data?.streams.nextToken ?? null;

  async function showMore() {
    if (!nextToken) return;
    setMore(true);
    stopPolling(); // a refresh brings the first page anew, which would drop the pages after it
    setMoreError(null);
    try {
      await fetchMore({ variables: { nextToken } });
    } catch (err) {
      setMoreError(describeError(err));
    } finally {
      setMore(false);
    }
  }

  return (
    <section className="stream-section" aria-labelledby={headingId}>
      <h2 id={headingId}>{title}</h2>
      {error && !data && <p className="form-error">{describeError(error)}</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      {data && items.length === 0 && <p className="muted">{empty}</p>}
      <ul className="stream-grid">
        {items.map((stream) => (
          <StreamCard key={stream.id} stream={stream} onTag={onTag} />
        ))}
      </ul>
      {moreError && (
        <p className="form-error" role="alert">
          {moreError}
        </p>
      )}
      {nextToken && (
        <button type="button" className="more" disabled={more} onClick={() => void showMore()}>
          Show more<span className="visually-hidden"> {title.toLowerCase()}</span>
        </button>
      )}
    </section>
  );
}
