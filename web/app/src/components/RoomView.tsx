import { useMutation, useQuery } from "@apollo/client/react";
import { useEffect, useMemo, useState } from "react";
import {
  LeaveRoomDocument,
  OnRoomJoinedDocument,
  OnRoomLeftDocument,
  RoomDocument,
  RoomMembersDocument,
  SetRoomMutedDocument,
} from "../gql/graphql";
import { describeError } from "../lib/errors";
import { nameOf, roomTitle } from "../lib/format";
import { navigate } from "../lib/router";
import type { SessionUser } from "../lib/session";
import { useFileDrop } from "../lib/useFileDrop";
import { useLive } from "../lib/useLive";
import { useRoomLive } from "../lib/useRoomLive";
import { useUploads } from "../lib/useUploads";
import { Composer } from "./Composer";
import { ImageViewer } from "./ImageViewer";
import { MembersPanel } from "./MembersPanel";
import { MessageList } from "./MessageList";
import { RoomSettingsDialog } from "./RoomSettingsDialog";
import { ThreadPanel } from "./ThreadPanel";
import { TypingLine } from "./TypingLine";

/**
 * One room: header, the message log, the composer, and the thread or members beside it. A guest
 * reads a public room without joining: the log, live, and nothing that writes.
 */
export function RoomView({ roomId, me }: { roomId: string; me: SessionUser }) {
  const readOnly = me.role === "GUEST";
  const room = useQuery(RoomDocument, { variables: { id: roomId } });
  const members = useQuery(RoomMembersDocument, { variables: { id: roomId } });
  const live = useRoomLive(roomId, me.id, room.data?.getChatRoom?.startCursor ?? null);
  const [side, setSide] = useState<{ kind: "thread"; messageId: string } | { kind: "members" } | null>(null);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [leave] = useMutation(LeaveRoomDocument, { refetchQueries: ["MyRooms"] });
  const [setMuted] = useMutation(SetRoomMutedDocument);
  const [error, setError] = useState<string | null>(null);
  const uploads = useUploads();
  const drop = useFileDrop(uploads.add);

  const refreshMembers = () => {
    void members.refetch().catch(() => undefined);
    void room.refetch().catch(() => undefined);
  };
  const isMember = Boolean(room.data?.getChatRoom?.myRole);
  useLive(OnRoomJoinedDocument, { variables: { roomId }, onData: refreshMembers, skip: !isMember });
  useLive(OnRoomLeftDocument, { variables: { roomId }, onData: refreshMembers, skip: !isMember });

  const info = room.data?.getChatRoom;
  const memberItems = members.data?.getChatRoom?.members.items;
  const memberList = useMemo(() => memberItems ?? [], [memberItems]);
  const bots = useMemo(() => memberList.filter((m) => m.isBot).map((m) => m.username), [memberList]);
  const title = info ? roomTitle({ ...info, members: { items: memberList } }, me.id) : "";

  useEffect(() => {
    document.title = title ? `${title} · ChatQL` : "ChatQL";
    return () => {
      document.title = "ChatQL";
    };
  }, [title]);

  if (room.loading && !room.data) return <p className="muted pad">Loading…</p>;
  if (!info) {
    return (
      <div className="pad">
        <h2>Room not found</h2>
        <p>It may have been deleted, or it is private and you are not a member.</p>
      </div>
    );
  }
  if (!info.myRole && !(readOnly && !info.isPrivate)) {
    return (
      <div className="pad">
        <h2>{info.name}</h2>
        {info.description && <p>{info.description}</p>}
        <p>You are not a member of this room.</p>
      </div>
    );
  }

  // Room settings are the owner's (or a global admin's); moderation menus are in MembersPanel.
  const canManage = info.myRole === "OWNER" || me.role === "ADMIN";
  const myRole = info.myRole ?? null;
  const other = info.isDirect ? memberList.find((m) => m.id !== me.id) : undefined;

  async function leaveRoom() {
    setError(null);
    try {
      await leave({ variables: { roomId } });
      navigate("/");
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <ImageViewer>
      <div className={side ? "room with-side" : "room"}>
        <section
          className={drop.over ? "room-main dropping" : "room-main"}
          aria-label={title}
          {...(readOnly ? {} : drop.handlers)}
        >
          <header className="room-head">
            <button type="button" className="icon back" aria-label="Back to rooms" onClick={() => navigate("/")}>
              ‹
            </button>
            <div className="room-head-text">
              <h1>{title}</h1>
              <p className="muted">
                {other ? (
                  <>
                    @{other.username} · {other.isBot ? "AI assistant" : other.status.toLowerCase()}
                  </>
                ) : (
                  <>
                    {info.isPrivate ? "Private" : "Public"} · {info.memberCount} members
                    {info.description ? ` · ${info.description}` : ""}
                  </>
                )}
              </p>
            </div>
            {!readOnly && <div className="room-actions">
              <button
                type="button"
                aria-pressed={info.isMuted}
                onClick={() => void setMuted({ variables: { roomId, muted: !info.isMuted } })}
              >
                {info.isMuted ? "Unmute" : "Mute"}
                <span className="visually-hidden"> notifications</span>
              </button>
              {!info.isDirect && (
                <button
                  type="button"
                  aria-pressed={side?.kind === "members"}
                  onClick={() => setSide(side?.kind === "members" ? null : { kind: "members" })}
                >
                  Members
                </button>
              )}
              {canManage && !info.isDirect && (
                <button type="button" onClick={() => setSettingsOpen(true)}>
                  Settings
                </button>
              )}
              {!info.isDirect && (
                <button type="button" onClick={() => void leaveRoom()}>
                  Leave
                </button>
              )}
            </div>}
          </header>
          {error && (
            <p className="form-error pad" role="alert">
              {error}
            </p>
          )}
          <MessageList
            roomId={roomId}
            me={me}
            live={live}
            myRole={myRole}
            lastReadCursor={info.lastReadCursor}
            bots={bots}
            isDirect={info.isDirect}
            readOnly={readOnly}
            onOpenThread={readOnly ? undefined : (messageId) => setSide({ kind: "thread", messageId })}
          />
          <TypingLine typists={live.typists} />
          {readOnly ? (
            <p className="read-only-note">You are reading as a guest: sign up to write here.</p>
          ) : (
            <Composer
              roomId={roomId}
              members={memberList}
              meId={me.id}
              label="Message"
              placeholder={other?.isBot ? `Ask ${nameOf(other)}` : undefined}
              uploads={uploads}
            />
          )}
        </section>
        {side?.kind === "thread" && (
          <ThreadPanel
            roomId={roomId}
            messageId={side.messageId}
            me={me}
            members={memberList}
            myRole={myRole}
            isDirect={info.isDirect}
            bots={bots}
            onClose={() => setSide(null)}
          />
        )}
        {side?.kind === "members" && myRole && (
          <MembersPanel
            roomId={roomId}
            me={me}
            myRole={myRole}
            ownerId={info.owner.id}
            isPrivate={info.isPrivate}
            members={memberList}
            onChanged={refreshMembers}
            onClose={() => setSide(null)}
          />
        )}
        {settingsOpen && (
          <RoomSettingsDialog
            room={info}
            onClose={() => setSettingsOpen(false)}
          />
        )}
      </div>
    </ImageViewer>
  );
}
