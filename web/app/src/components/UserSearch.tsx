import { useMutation } from "@apollo/client/react";
import { useId, useState } from "react";
import { StartDirectChatDocument } from "../gql/graphql";
import { useAssistant } from "../lib/useAssistant";
import { useUserSearch } from "../lib/useUserSearch";
import { describeError } from "../lib/errors";
import { navigate, roomPath } from "../lib/router";
import { Avatar } from "./Avatar";
import { BotBadge } from "./BotBadge";

/**
 * Find people by name and open the direct chat with one of them; "Ask the assistant" opens the
 * direct chat with the AI assistant when the server has one.
 */
export function UserSearch({ meId }: { meId: string }) {
  const [term, setTerm] = useState("");
  const { results: found, loading, answered } = useUserSearch(term);
  const [startChat] = useMutation(StartDirectChatDocument, { refetchQueries: ["MyRooms"] });
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();
  const assistant = useAssistant();

  async function open(userId: string) {
    setError(null);
    try {
      const result = await startChat({ variables: { userId } });
      const room = result.data?.startDirectChat;
      if (room) {
        setTerm("");
        navigate(roomPath(room.id));
      }
    } catch (err) {
      setError(describeError(err));
    }
  }

  const results = found.filter((u) => u.id !== meId);
  return (
    <section className="user-search" aria-label="People">
      <label htmlFor={inputId} className="visually-hidden">
        Search users
      </label>
      <input
        id={inputId}
        type="search"
        placeholder="Search users"
        value={term}
        onChange={(e) => setTerm(e.target.value)}
        autoComplete="off"
      />
      {assistant && !term.trim() && (
        <button type="button" className="ask-assistant" onClick={() => void open(assistant.id)}>
          <Avatar user={assistant} size="small" />
          <span>Ask the assistant</span>
        </button>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {term.trim() && (
        <ul className="search-results" aria-live="polite">
          {loading && results.length === 0 && <li className="muted">Searching…</li>}
          {!loading && answered && results.length === 0 && <li className="muted">Nobody found.</li>}
          {results.map((user) => (
            <li key={user.id}>
              <button type="button" className="result" onClick={() => void open(user.id)}>
                <Avatar user={user.isBot ? { ...user, status: null } : user} size="small" />
                <span className="result-name">
                  {user.displayName} <span className="muted">@{user.username}</span>
                  {user.isBot && <BotBadge />}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
