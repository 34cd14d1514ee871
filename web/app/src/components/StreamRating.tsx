import { useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { RateStreamDocument } from "../gql/graphql";
import { formError } from "../lib/errors";

const STARS = [1, 2, 3, 4, 5] as const;
const MAX_COMMENT = 500;

/**
 * 1 to 5 stars and an optional comment, once a stream has ended. The stars are radio buttons
 * (arrow keys move between them); rating again replaces the earlier rating.
 */
export function StreamRating({
  stream,
  guest,
}: {
  stream: { id: string; myRating: number | null };
  guest: boolean;
}) {
  const [rating, setRating] = useState(stream.myRating ?? 0);
  const [hover, setHover] = useState(0);
  const [comment, setComment] = useState("");
  const [rate, { loading }] = useMutation(RateStreamDocument, { refetchQueries: ["Stream"] });
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const name = useId();
  const commentId = useId();

  if (guest) {
    return <p className="muted rating-note">Sign up to rate this stream.</p>;
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!rating) {
      setError("Choose from 1 to 5 stars first.");
      return;
    }
    setError(null);
    setDone(null);
    try {
      await rate({ variables: { streamId: stream.id, rating, comment: comment.trim() || null } });
      setDone(`Thanks! You rated this stream ${rating} of 5.`);
    } catch (err) {
      setError(formError(err).message);
    }
  }

  const shown = hover || rating;
  return (
    <form className="rating" onSubmit={(e) => void submit(e)}>
      <fieldset className="stars" onMouseLeave={() => setHover(0)}>
        <legend>Rate this stream</legend>
        {STARS.map((value) => (
          <span key={value} className="star">
            <input
              type="radio"
              id={`${name}-${value}`}
              name={name}
              value={value}
              checked={rating === value}
              onChange={() => setRating(value)}
              className="visually-hidden"
            />
            <label htmlFor={`${name}-${value}`} className={value <= shown ? "on" : ""} onMouseEnter={() => setHover(value)}>
              <span aria-hidden="true">★</span>
              <span className="visually-hidden">
                {value} {value === 1 ? "star" : "stars"}
              </span>
            </label>
          </span>
        ))}
      </fieldset>
      <label htmlFor={commentId}>Comment (optional)</label>
      <textarea
        id={commentId}
        rows={2}
        maxLength={MAX_COMMENT}
        value={comment}
        onChange={(e) => setComment(e.target.value)}
      />
      <div className="rating-actions">
        <button type="submit" className="primary" disabled={loading}>
          {stream.myRating ? "Rate again" : "Rate"}
        </button>
        <p className="muted" role="status">
          {done ?? (stream.myRating ? `Your rating: ${stream.myRating} of 5.` : "")}
        </p>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
