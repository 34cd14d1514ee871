import { useMutation, useQuery } from "@apollo/client/react";
import { useState } from "react";
import { JoinRoomDocument, RoomDocument, RoomMembersDocument, type RoomQuery } from "../gql/graphql";
import { describeError } from "../lib/errors";
import type { SessionUser } from "../lib/session";
import { useRoomLive } from "../lib/useRoomLive";
import { Composer } from "./Composer";
import { MessageList } from "./MessageList";
import { TypingLine } from "./TypingLine";

type RoomInfo = NonNullable<RoomQuery["getChatRoom"]>;

/**
 * A stream's live chat: its room, with the room's own log and composer. People join it as
 * they join any public room (reading it needs membership); guests read it without joining.
 */
export function StreamChat({ roomId, me }: { roomId: string; me: SessionUser }) {
  const guest = me.role === "GUEST";
  const room = useQuery(RoomDocument, { variables: { id: roomId } });
  const [join, joining] = useMutation(JoinRoomDocument, { refetchQueries: ["MyRooms"] });
  const [error, setError] = useState<string | null>(null);
  const info = room.data?.getChatRoom;

  async function joinChat() {
    setError(null);
    try {
      await join({ variables: { roomId } });
      await room.refetch();
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section className="stream-chat" aria-label="Live chat">
      <div className="side-head">
        <h2>Live chat</h2>
        {info && <span className="muted">{info.memberCount} in chat</span>}
      </div>
      {room.loading && !info ? (
        <p className="muted pad">Loading…</p>
      ) : !info ? (
        <p className="muted pad">This chat is not available.</p>
      ) : info.myRole || guest ? (
        <ChatLog key={roomId} info={info} me={me} />
      ) : (
        <div className="chat-join">
          <p>Join the chat to read along and talk with everyone watching.</p>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="button" className="primary" disabled={joining.loading} onClick={() => void joinChat()}>
            Join chat
          </button>
        </div>
      )}
    </section>
  );
}

function ChatLog({ info, me }: { info: RoomInfo; me: SessionUser }) {
  const guest = me.role === "GUEST";
  const live = useRoomLive(info.id, me.id, info.startCursor);
  // For @mentions only: the first hundred members are enough to suggest from.
  const members = useQuery(RoomMembersDocument, { variables: { id: info.id }, skip: guest });
  const memberList = members.data?.getChatRoom?.members.items ?? [];
  return (
    <>
      <MessageList
        roomId={info.id}
        me={me}
        live={live}
        myRole={info.myRole ?? null}
        lastReadCursor={info.lastReadCursor}
        readOnly={guest}
      />
      <TypingLine typists={live.typists} />
      {guest ? (
        <p className="read-only-note">You are watching as a guest: sign up to chat.</p>
      ) : (
        <Composer roomId={info.id} members={memberList} meId={me.id} label="Message" />
      )}
    </>
  );
}
