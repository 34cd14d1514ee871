import { useMutation } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { RequestEmailVerificationDocument, VerifyEmailDocument } from "../gql/graphql";
import { once } from "../lib/account";
import { describeError } from "../lib/errors";
import { AuthLayout } from "./AuthLayout";
import { BackLink } from "./BackLink";

type State = { kind: "working" } | { kind: "done" } | { kind: "failed"; message: string };

/** `/verify-email?token=`: proves the address as soon as it opens, signed in or not. */
export function VerifyEmailPage({ token, signedIn }: { token: string | null; signedIn: boolean }) {
  const [verify] = useMutation(VerifyEmailDocument);
  const [state, setState] = useState<State>(
    token ? { kind: "working" } : { kind: "failed", message: "This link is incomplete: open the whole link from the mail." },
  );

  useEffect(() => {
    if (!token) return;
    let current = true;
    // A link works once: a second mount (StrictMode) must not spend it again.
    once(`verify-email:${token}`, () => verify({ variables: { token } })).then(
      () => current && setState({ kind: "done" }),
      (err: unknown) => current && setState({ kind: "failed", message: describeError(err) }),
    );
    return () => {
      current = false;
    };
  }, [token, verify]);

  return (
    <AuthLayout title="Verify your email">
      <div role="status" className="notice">
        {state.kind === "working" && "Verifying your email address…"}
        {state.kind === "done" && (signedIn ? "Your email address is verified." : "Your email address is verified. You can sign in with it now.")}
      </div>
      {state.kind === "failed" && (
        <>
          <p className="form-error" role="alert">
            {state.message}
          </p>
          {signedIn && <ResendLink />}
        </>
      )}
      {state.kind !== "working" && (
        <p className="auth-switch">
          <BackLink signedIn={signedIn} label={state.kind === "done" ? (signedIn ? "Continue to ChatQL" : "Sign in") : undefined} />
        </p>
      )}
    </AuthLayout>
  );
}

/** A new verification mail, for the signed-in owner of a spent or expired link. */
function ResendLink() {
  const [resend, { loading }] = useMutation(RequestEmailVerificationDocument);
  const [status, setStatus] = useState<string | null>(null);
  return (
    <>
      <button
        type="button"
        disabled={loading}
        onClick={() =>
          void resend().then(
            () => setStatus("A new link is on its way. Check your inbox."),
            (err: unknown) => setStatus(describeError(err)),
          )
        }
      >
        Send a new link
      </button>
      <p role="status" className="notice">
        {status}
      </p>
    </>
  );
}
