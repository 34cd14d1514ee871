import { useState } from "react";
import { initials } from "../lib/format";

interface AvatarUser {
  displayName: string;
  username: string;
  avatarUrl?: string | null;
  status?: string | null;
}

/** A picture or initials (also when the picture cannot be loaded), with a presence dot when the status is known. */
export function Avatar({ user, size = "normal" }: { user: AvatarUser; size?: "small" | "normal" | "large" }) {
  const name = user.displayName || user.username;
  const [broken, setBroken] = useState<string | null>(null);
  const picture = user.avatarUrl && user.avatarUrl !== broken ? user.avatarUrl : null;
  return (
    <span className={`avatar avatar-${size}`} aria-hidden="true">
      {picture ? <img src={picture} alt="" loading="lazy" onError={() => setBroken(picture)} /> : initials(name)}
      {user.status && <span className={`presence presence-${user.status.toLowerCase()}`} />}
    </span>
  );
}

export function PresenceLabel({ status }: { status?: string | null }) {
  if (!status) return null;
  return <span className="visually-hidden">, {status.toLowerCase()}</span>;
}
