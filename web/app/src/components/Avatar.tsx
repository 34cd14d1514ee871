import { initials } from "../lib/format";

interface AvatarUser {
  displayName: string;
  username: string;
  avatarUrl?: string | null;
  status?: string | null;
}

/** A picture or initials, with a presence dot when the status is known. */
export function Avatar({ user, size = "normal" }: { user: AvatarUser; size?: "small" | "normal" }) {
  const name = user.displayName || user.username;
  return (
    <span className={`avatar avatar-${size}`} aria-hidden="true">
      {user.avatarUrl ? <img src={user.avatarUrl} alt="" loading="lazy" /> : initials(name)}
      {user.status && <span className={`presence presence-${user.status.toLowerCase()}`} />}
    </span>
  );
}

export function PresenceLabel({ status }: { status?: string | null }) {
  if (!status) return null;
  return <span className="visually-hidden">, {status.toLowerCase()}</span>;
}
