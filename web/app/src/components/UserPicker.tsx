import { useId, useState } from "react";
import { useUserSearch } from "../lib/useUserSearch";
import { BotBadge } from "./BotBadge";

export interface PickedUser {
  id: string;
  username: string;
  displayName: string;
  isBot?: boolean;
}

/**
 * A search box whose results are buttons ("Invite Ann @ann"): picking one hands the user to
 * `onPick` and clears the search. `exclude` hides people already chosen or already members.
 */
export function UserPicker({
  label,
  verb,
  exclude,
  onPick,
}: {
  label: string;
  verb: string;
  exclude: (user: PickedUser) => boolean;
  onPick: (user: PickedUser) => void;
}) {
  const [term, setTerm] = useState("");
  const { results } = useUserSearch(term);
  const id = useId();
  const candidates = results.filter((u) => !exclude(u));
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} type="search" value={term} onChange={(e) => setTerm(e.target.value)} autoComplete="off" />
      {candidates.length > 0 && (
        <ul className="search-results">
          {candidates.map((u) => (
            <li key={u.id}>
              <button
                type="button"
                className="result"
                onClick={() => {
                  setTerm("");
                  onPick(u);
                }}
              >
                {verb} {u.displayName} <span className="muted">@{u.username}</span>
                {u.isBot && <BotBadge />}
              </button>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
