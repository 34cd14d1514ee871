import { Icon } from "./Icon";
import { useMutation } from "@apollo/client/react";
import { useState } from "react";
import {
  AddMemberDocument,
  BanMemberDocument,
  MuteMemberDocument,
  RemoveMemberDocument,
  SetMemberRoleDocument,
  UnmuteMemberDocument,
  type RoomRole,
} from "../gql/graphql";
import { describeError } from "../lib/errors";
import { nameOf } from "../lib/format";
import type { SessionUser } from "../lib/session";
import { Avatar, PresenceLabel } from "./Avatar";
import { BotBadge } from "./BotBadge";
import { UserPicker } from "./UserPicker";

interface Member {
  id: string;
  username: string;
  displayName: string;
  status: string;
  avatarUrl: string | null;
  isBot?: boolean;
}

/** Who is here, with presence; moderation for those who may (the server checks every action). */
export function MembersPanel({
  roomId,
  me,
  myRole,
  ownerId,
  isPrivate,
  members,
  onChanged,
  onClose,
}: {
  roomId: string;
  me: SessionUser;
  myRole: RoomRole;
  ownerId: string;
  isPrivate: boolean;
  members: Member[];
  onChanged: () => void;
  onClose: () => void;
}) {
  const [menuFor, setMenuFor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [setRole] = useMutation(SetMemberRoleDocument);
  const [remove] = useMutation(RemoveMemberDocument);
  const [ban] = useMutation(BanMemberDocument);
  const [mute] = useMutation(MuteMemberDocument);
  const [unmute] = useMutation(UnmuteMemberDocument);
  const [add] = useMutation(AddMemberDocument);

  const moderator = myRole === "OWNER" || myRole === "ADMIN" || me.role === "ADMIN" || me.role === "MODERATOR";
  const canInvite = myRole === "OWNER" || myRole === "ADMIN" || !isPrivate;

  async function act(label: string, action: () => Promise<unknown>) {
    setError(null);
    setStatus(null);
    setMenuFor(null);
    try {
      await action();
      setStatus(label);
      onChanged();
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <aside className="side" aria-label="Members">
      <div className="side-head">
        <h2>Members</h2>
        <button type="button" className="icon" aria-label="Close members" onClick={onClose}>
          ×
        </button>
      </div>
      {error && (
        <p className="form-error pad" role="alert">
          {error}
        </p>
      )}
      <p className="visually-hidden" role="status">
        {status}
      </p>
      {canInvite && (
        <div className="pad">
          <UserPicker
            label="Add someone"
            verb="Add"
            exclude={(u) => members.some((m) => m.id === u.id)}
            onPick={(u) => void act(`${nameOf(u)} added`, () => add({ variables: { roomId, userId: u.id } }))}
          />
        </div>
      )}
      <ul className="members">
        {members.map((member) => {
          const name = nameOf(member);
          const isOwner = member.id === ownerId;
          const manageable = moderator && member.id !== me.id && !isOwner;
          return (
            <li key={member.id} className="member">
              {/* the assistant has no presence: it is there whenever it is asked */}
              <Avatar user={member.isBot ? { ...member, status: null } : member} size="small" />
              <span className="member-name">
                {name} <span className="muted">@{member.username}</span>
                {member.isBot && <BotBadge />}
                {isOwner && <span className="tag">owner</span>}
                {!member.isBot && <PresenceLabel status={member.status} />}
              </span>
              {manageable && (
                <div className="menu-wrap">
                  <button
                    type="button"
                    aria-expanded={menuFor === member.id}
                    aria-controls={menuFor === member.id ? `moderate-${member.id}` : undefined}
                    aria-label={`Moderate ${name}`}
                    onClick={() => setMenuFor(menuFor === member.id ? null : member.id)}
                  >
                    <Icon name="more" />
                  </button>
                  {menuFor === member.id && (
                    <div id={`moderate-${member.id}`} className="menu" role="group" aria-label={`Moderation for ${name}`}>
                      {myRole === "OWNER" && (
                        <>
                          <button type="button" onClick={() => void act(`${name} is now an admin`, () => setRole({ variables: { roomId, userId: member.id, role: "ADMIN" } }))}>
                            Make admin
                          </button>
                          <button type="button" onClick={() => void act(`${name} is now a member`, () => setRole({ variables: { roomId, userId: member.id, role: "MEMBER" } }))}>
                            Make member
                          </button>
                        </>
                      )}
                      <button type="button" onClick={() => void act(`${name} muted`, () => mute({ variables: { roomId, userId: member.id } }))}>
                        Mute
                      </button>
                      <button type="button" onClick={() => void act(`${name} unmuted`, () => unmute({ variables: { roomId, userId: member.id } }))}>
                        Unmute
                      </button>
                      <button type="button" onClick={() => void act(`${name} removed`, () => remove({ variables: { roomId, userId: member.id } }))}>
                        Remove
                      </button>
                      <button type="button" className="danger" onClick={() => void act(`${name} banned`, () => ban({ variables: { roomId, userId: member.id } }))}>
                        Ban
                      </button>
                    </div>
                  )}
                </div>
              )}
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
