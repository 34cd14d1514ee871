import { useMutation } from "@apollo/client/react";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ExchangeLoginCodeDocument } from "../gql/graphql";
import { callbackErrorMessage, once, parseCallback } from "../lib/account";
import { describeError, errorDetails } from "../lib/errors";
import { navigate } from "../lib/router";
import { fromPayload, setSession } from "../lib/session";
import { useSignInOptions } from "../lib/useSignInOptions";
import { AuthLayout } from "./AuthLayout";
import { BackLink } from "./BackLink";
import { CheckField } from "./Field";
import { TermsLink } from "./TermsLink";

type State = { kind: "working" } | { kind: "terms" } | { kind: "failed"; message: string };

/**
 * `/login/callback?code=` (or `?error=`): where a social sign-in comes back. The one-time code
 * becomes a session; a new account that has to accept the terms first gets the checkbox and
 * the same code again (it stays valid until it works, for a couple of minutes).
 */
export function LoginCallbackPage({ params, signedIn }: { params: Readonly<Record<string, string>>; signedIn: boolean }) {
  const callback = parseCallback(params);
  const code = callback.kind === "code" ? callback.code : null;
  const [exchange] = useMutation(ExchangeLoginCodeDocument);
  const [state, setState] = useState<State>(() =>
    callback.kind === "code"
      ? { kind: "working" }
      : { kind: "failed", message: callback.kind === "error" ? callbackErrorMessage(callback.error) : "This sign-in link is incomplete." },
  );

  const finish = useCallback(
    async (accept: boolean, isCurrent: () => boolean = () => true) => {
      if (!code) return;
      try {
        const { data } = await once(`login-code:${code}:${accept}`, () =>
          exchange({ variables: { code, acceptTerms: accept ? true : null } }),
        );
        if (!data || !isCurrent()) return;
        navigate("/", { replace: true });
        setSession(fromPayload(data.exchangeLoginCode));
      } catch (err) {
        if (!isCurrent()) return;
        const details = errorDetails(err);
        if (details.code === "BAD_USER_INPUT" && details.field === "acceptTerms" && !accept) {
          setState({ kind: "terms" });
        } else {
          setState({ kind: "failed", message: describeError(err) });
        }
      }
    },
    [code, exchange],
  );

  useEffect(() => {
    let current = true;
    void finish(false, () => current);
    return () => {
      current = false;
    };
  }, [finish]);

  return (
    <AuthLayout
      title={state.kind === "failed" ? "Sign-in did not complete" : state.kind === "terms" ? "Create your account" : "Signing you in"}
    >
      <div role="status" className="notice">
        {state.kind === "working" && "Finishing your sign-in…"}
      </div>
      {state.kind === "terms" && <AcceptTermsForm onAccept={() => finish(true)} />}
      {state.kind === "failed" && (
        <p className="form-error" role="alert">
          {state.message}
        </p>
      )}
      {state.kind !== "working" && (
        <p className="auth-switch">
          <BackLink signedIn={signedIn} />
        </p>
      )}
    </AuthLayout>
  );
}

/** The terms checkbox a new social account must tick before the sign-in completes. */
function AcceptTermsForm({ onAccept }: { onAccept: () => Promise<void> }) {
  const { options } = useSignInOptions();
  const [accepted, setAccepted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!accepted) {
      setError("Accept the terms of service to create your account.");
      return;
    }
    setError(null);
    setBusy(true);
    await onAccept();
    setBusy(false);
  }

  return (
    <form onSubmit={submit} noValidate>
      <p>One more step: this creates a new ChatQL account, which needs you to accept the terms of service.</p>
      <CheckField
        label={
          <>
            I accept the <TermsLink url={options.termsUrl} version={options.termsVersion ?? ""} />
          </>
        }
        name="acceptTerms"
        checked={accepted}
        error={error}
        onChange={(e) => setAccepted(e.target.checked)}
      />
      <button type="submit" className="primary" disabled={busy}>
        Create account
      </button>
    </form>
  );
}
