import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { RequestPasswordResetDocument } from "../gql/graphql";
import { looksLikeEmail } from "../lib/account";
import { formError } from "../lib/errors";
import { useSignInOptions } from "../lib/useSignInOptions";
import { AuthLayout } from "./AuthLayout";
import { BackLink } from "./BackLink";
import { Field } from "./Field";

const SENT =
  "If that address belongs to an account and has been verified, a link to choose a new password is on its way. Check your inbox (and spam folder).";

/** `/forgot-password`: an address in, the same answer out whether or not it has an account. */
export function ForgotPasswordPage({ signedIn }: { signedIn: boolean }) {
  const { options, ready } = useSignInOptions();
  const [request, { loading }] = useMutation(RequestPasswordResetDocument);
  const [email, setEmail] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [formLevel, setFormLevel] = useState<string | null>(null);
  const [sent, setSent] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setFormLevel(null);
    setSent(null);
    if (!looksLikeEmail(email)) {
      setError("Enter the email address of your account.");
      return;
    }
    try {
      await request({ variables: { email: email.trim() } });
      setSent(SENT);
    } catch (err) {
      const { field, message } = formError(err, { fields: { email: "email" } });
      if (field) setError(message);
      else setFormLevel(message);
    }
  }

  return (
    <AuthLayout title="Reset your password">
      {!ready ? (
        <p className="muted">Loading…</p>
      ) : !options.passwordReset ? (
        <p>Password resets by email are not available on this server. Ask its administrator for help.</p>
      ) : (
        <form onSubmit={submit} noValidate>
          <p className="muted">Enter your account’s email address and we will mail you a link to choose a new password.</p>
          <Field
            label="Email"
            name="email"
            type="email"
            autoComplete="email"
            required
            maxLength={254}
            value={email}
            error={error}
            onChange={(e) => setEmail(e.target.value)}
          />
          {formLevel && (
            <p className="form-error" role="alert">
              {formLevel}
            </p>
          )}
          <button type="submit" className="primary" disabled={loading}>
            Send reset link
          </button>
        </form>
      )}
      <p role="status" className="notice">
        {sent}
      </p>
      <p className="auth-switch">
        <BackLink signedIn={signedIn} />
      </p>
    </AuthLayout>
  );
}
