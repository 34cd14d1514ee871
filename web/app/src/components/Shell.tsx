import { useApolloClient, useMutation, useQuery } from "@apollo/client/react";
import { useCallback, useEffect, useState } from "react";
import { MeDocument, OnMyRoomsChangedDocument, OnPresenceDocument, UpdatePresenceDocument } from "../gql/graphql";
import { needsEmailVerification, needsTerms } from "../lib/account";
import { onReconnect } from "../lib/connection";
import { navigate, useRoute } from "../lib/router";
import type { SessionUser } from "../lib/session";
import { useNoFileNavigation } from "../lib/useFileDrop";
import { useLive } from "../lib/useLive";
import { useSignInOptions } from "../lib/useSignInOptions";
import { useSignOut } from "../lib/useSignOut";
import { AccountDialog } from "./AccountDialog";
import { Avatar } from "./Avatar";
import { ConnectionStatus } from "./ConnectionStatus";
import { GuestBar } from "./GuestBar";
import { GuestRoomList } from "./GuestRoomList";
import { NewRoomDialog } from "./NewRoomDialog";
import { NotificationsBell } from "./NotificationsBell";
import { ProfileDialog } from "./ProfileDialog";
import { PublicRoomsDialog } from "./PublicRoomsDialog";
import { RoomList } from "./RoomList";
import { RoomView } from "./RoomView";
import { StreamsPage } from "./StreamsPage";
import { StreamWatchPage } from "./StreamWatchPage";
import { StudioPage, StudioStreamPage } from "./StudioPage";
import { TermsPrompt } from "./TermsPrompt";
import { UserSearch } from "./UserSearch";
import { VerifyEmailBanner } from "./VerifyEmailBanner";

/**
 * The signed-in layout: rooms on the side, the open room in the middle, status on top. A guest
 * gets the same layout read-only: public rooms to read, nothing that writes.
 */
export function Shell({ me }: { me: SessionUser }) {
  const { roomId, streams } = useRoute();
  const client = useApolloClient();
  const guest = me.role === "GUEST";
  const [dialog, setDialog] = useState<"new" | "browse" | "profile" | "account" | null>(null);
  const [termsLater, setTermsLater] = useState(false);
  const [updatePresence] = useMutation(UpdatePresenceDocument);
  const signOut = useSignOut();
  const { options } = useSignInOptions();
  // My own account's private fields (email, terms): banners and prompts follow them.
  const account = useQuery(MeDocument, { skip: guest });
  const mine = account.data?.me ?? null;
  const refetchAccount = account.refetch;
  const checkAccount = useCallback(() => void refetchAccount().catch(() => undefined), [refetchAccount]);

  useNoFileNavigation();
  // Presence of people who share a room with me: updates their `status` everywhere in the cache.
  useLive(OnPresenceDocument, { skip: guest });
  // Added to a room, removed, or a room deleted: the rooms list follows.
  useLive(OnMyRoomsChangedDocument, {
    skip: guest,
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
    if (guest) return; // guests have no presence
    const report = () =>
      void updatePresence({
        variables: { status: document.hidden ? "AWAY" : "ONLINE", currentRoom: document.hidden ? null : roomId },
      }).catch(() => undefined);
    report();
    document.addEventListener("visibilitychange", report);
    return () => document.removeEventListener("visibilitychange", report);
  }, [roomId, updatePresence, guest]);

  const name = me.displayName || me.username;
  return (
    <div className={streams ? "shell streams-open" : roomId ? "shell room-open" : "shell"}>
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
          <span aria-hidden="true" className="brand-mark" /> <span className="brand-name">ChatQL</span>
        </a>
        <a
          className="topbar-link"
          href="/streams"
          aria-current={streams ? "page" : undefined}
          onClick={(e) => {
            if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            navigate("/streams");
          }}
        >
          Streams
        </a>
        <ConnectionStatus />
        <div className="topbar-actions">
          {guest ? (
            <span className="me">
              <Avatar user={me} size="small" />
              <span className="me-name">{name}</span>
            </span>
          ) : (
            <>
              <NotificationsBell />
              <button
                type="button"
                className="me"
                aria-haspopup="dialog"
                aria-label={`${name}, profile`}
                onClick={() => setDialog("profile")}
              >
                <Avatar user={me} size="small" />
                <span className="me-name">{name}</span>
              </button>
            </>
          )}
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <div className="notices">
        {guest && <GuestBar onSignUp={() => void signOut({ mode: "sign-up", notice: null })} />}
        {needsEmailVerification(mine) && mine?.email && (
          <VerifyEmailBanner key={mine.email} email={mine.email} onCheck={checkAccount} />
        )}
      </div>
      <aside className="sidebar">
        {guest ? (
          <GuestRoomList activeRoomId={roomId} />
        ) : (
          <>
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
          </>
        )}
      </aside>
      <main id="main" className="main" tabIndex={-1}>
        {streams?.kind === "browse" ? (
          <StreamsPage me={me} />
        ) : streams?.kind === "watch" ? (
          <StreamWatchPage key={streams.streamId} streamId={streams.streamId} me={me} />
        ) : streams?.kind === "studio" && !guest ? (
          streams.streamId ? (
            <StudioStreamPage key={streams.streamId} streamId={streams.streamId} me={me} />
          ) : (
            <StudioPage me={me} />
          )
        ) : roomId ? (
          <RoomView key={roomId} roomId={roomId} me={me} />
        ) : (
          <div className="welcome">
            <h2>Welcome, {name}</h2>
            {guest ? (
              <p>Pick a public room on the left to read along, or open Streams at the top to watch live video. Sign up to write, react and start rooms of your own.</p>
            ) : (
              <p>Pick a room on the left, search for someone to message, or start a new room.</p>
            )}
          </div>
        )}
      </main>
      {dialog === "new" && <NewRoomDialog meId={me.id} onClose={() => setDialog(null)} />}
      {dialog === "browse" && <PublicRoomsDialog onClose={() => setDialog(null)} />}
      {dialog === "profile" && (
        <ProfileDialog me={me} onClose={() => setDialog(null)} onAccountSettings={() => setDialog("account")} />
      )}
      {dialog === "account" && mine && <AccountDialog me={mine} options={options} onClose={() => setDialog(null)} />}
      {dialog === null && !termsLater && needsTerms(mine, options.termsVersion) && options.termsVersion && (
        <TermsPrompt
          version={options.termsVersion}
          url={options.termsUrl}
          onLater={() => setTermsLater(true)}
          onSignOut={() => void signOut()}
        />
      )}
    </div>
  );
}
