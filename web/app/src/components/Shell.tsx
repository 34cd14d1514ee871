import { useApolloClient, useMutation } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { LogoutDocument, OnMyRoomsChangedDocument, OnPresenceDocument, UpdatePresenceDocument } from "../gql/graphql";
import { onReconnect } from "../lib/connection";
import { navigate, useRoute } from "../lib/router";
import { getSession, setSession, type SessionUser } from "../lib/session";
import { useNoFileNavigation } from "../lib/useFileDrop";
import { useLive } from "../lib/useLive";
import { ConnectionStatus } from "./ConnectionStatus";
import { NewRoomDialog } from "./NewRoomDialog";
import { NotificationsBell } from "./NotificationsBell";
import { ProfileDialog } from "./ProfileDialog";
import { PublicRoomsDialog } from "./PublicRoomsDialog";
import { RoomList } from "./RoomList";
import { RoomView } from "./RoomView";
import { UserSearch } from "./UserSearch";
import { Avatar } from "./Avatar";

/** The signed-in layout: rooms on the side, the open room in the middle, status on top. */
export function Shell({ me }: { me: SessionUser }) {
  const { roomId } = useRoute();
  const client = useApolloClient();
  const [dialog, setDialog] = useState<"new" | "browse" | "profile" | null>(null);
  const [updatePresence] = useMutation(UpdatePresenceDocument);
  const [logout] = useMutation(LogoutDocument);

  useNoFileNavigation();
  // Presence of people who share a room with me: updates their `status` everywhere in the cache.
  useLive(OnPresenceDocument);
  // Added to a room, removed, or a room deleted: the rooms list follows.
  useLive(OnMyRoomsChangedDocument, {
    onData: (data) => {
      const event = data.onMyRoomsChanged;
      void client.refetchQueries({ include: ["MyRooms"] });
      if (event.type !== "ADDED" && event.chatRoomId === roomId) navigate("/");
    },
  });
  // Back after a network drop: whatever is on screen may have changed (edits, deletions,
  // reactions, unread counts); new messages themselves resume from their cursors.
  useEffect(
    () => onReconnect(() => void client.refetchQueries({ include: "active" }).catch(() => undefined)),
    [client],
  );

  useEffect(() => {
    const report = () =>
      void updatePresence({
        variables: { status: document.hidden ? "AWAY" : "ONLINE", currentRoom: document.hidden ? null : roomId },
      }).catch(() => undefined);
    report();
    document.addEventListener("visibilitychange", report);
    return () => document.removeEventListener("visibilitychange", report);
  }, [roomId, updatePresence]);

  async function signOut() {
    const session = getSession();
    if (session) {
      await logout({ variables: { refreshToken: session.refreshToken } }).catch(() => undefined);
    }
    setSession(null);
    await client.clearStore();
  }

  return (
    <div className={roomId ? "shell room-open" : "shell"}>
      <a className="skip-link" href="#main">
        Skip to conversation
      </a>
      <header className="topbar">
        <a
          className="brand"
          href="/"
          onClick={(e) => {
            e.preventDefault();
            navigate("/");
          }}
        >
          <span aria-hidden="true" className="brand-mark" /> ChatQL
        </a>
        <ConnectionStatus />
        <div className="topbar-actions">
          <NotificationsBell />
          <button
            type="button"
            className="me"
            aria-haspopup="dialog"
            aria-label={`${me.displayName || me.username}, profile`}
            onClick={() => setDialog("profile")}
          >
            <Avatar user={me} size="small" />
            <span className="me-name">{me.displayName || me.username}</span>
          </button>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <aside className="sidebar">
        <div className="sidebar-actions">
          <button type="button" className="primary" onClick={() => setDialog("new")}>
            New room
          </button>
          <button type="button" onClick={() => setDialog("browse")}>
            Browse rooms
          </button>
        </div>
        <UserSearch meId={me.id} />
        <RoomList meId={me.id} activeRoomId={roomId} />
      </aside>
      <main id="main" className="main" tabIndex={-1}>
        {roomId ? (
          <RoomView key={roomId} roomId={roomId} me={me} />
        ) : (
          <div className="welcome">
            <h2>Welcome, {me.displayName || me.username}</h2>
            <p>Pick a room on the left, search for someone to message, or start a new room.</p>
          </div>
        )}
      </main>
      {dialog === "new" && <NewRoomDialog meId={me.id} onClose={() => setDialog(null)} />}
      {dialog === "browse" && <PublicRoomsDialog onClose={() => setDialog(null)} />}
      {dialog === "profile" && <ProfileDialog me={me} onClose={() => setDialog(null)} />}
    </div>
  );
}
