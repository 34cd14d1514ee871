import { navigate } from "../lib/router";

/** Back to the app: the sign-in screen when signed out, the rooms when signed in. */
export function BackLink({ signedIn, label }: { signedIn: boolean; label?: string }) {
  return (
    <a
      href="/"
      onClick={(e) => {
        e.preventDefault();
        navigate("/", { replace: true });
      }}
    >
      {label ?? (signedIn ? "Back to ChatQL" : "Back to sign in")}
    </a>
  );
}
