import { useApolloClient, useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { DeleteAccountDocument } from "../gql/graphql";
import { clearAuthFlash, setAuthFlash } from "../lib/authFlash";
import { formError } from "../lib/errors";
import { setSession } from "../lib/session";
import type { Account } from "./AccountDialog";
import { Field } from "./Field";
import { ForgotPasswordLink } from "./ForgotPasswordLink";

export const DELETED_NOTICE = "Your account was deleted and you were signed out everywhere. Goodbye!";

/** Leaving for good: the password again, after a warning that says what goes. */
export function DeleteAccountForm({ me, passwordReset }: { me: Account; passwordReset: boolean }) {
  const client = useApolloClient();
  const [remove, { loading }] = useMutation(DeleteAccountDocument);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const headingId = useId();
  const warningId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    if (!password) {
      setError("Enter your password to confirm.");
      return;
    }
    // Said before asking: the server closes this tab's socket as it deletes, which can end the
    // session here (and show the sign-in screen) before the answer arrives.
    setAuthFlash({ mode: "sign-in", notice: DELETED_NOTICE });
    try {
      await remove({ variables: { password } });
    } catch (err) {
      clearAuthFlash();
      setError(formError(err, { fields: { password: "password" }, unauthenticated: "password" }).message);
      return;
    }
    // Every session ended on the server: end this one here.
    setSession(null);
    await client.clearStore().catch(() => undefined);
  }

  return (
    <form className="stack account-section danger-zone" onSubmit={submit} noValidate aria-labelledby={headingId}>
      <h3 id={headingId}>Delete account</h3>
      <p id={warningId}>
        <strong>This cannot be undone.</strong> Deleting your account signs you out everywhere and removes your profile,
        email address, picture and notifications. Your messages stay in their rooms without your name (“Deleted user”),
        unless this server removes them too.
      </p>
      {me.hasPassword ? (
        <>
          <Field
            label="Password to confirm"
            name="delete-password"
            type="password"
            autoComplete="current-password"
            value={password}
            error={error}
            onChange={(e) => setPassword(e.target.value)}
          />
          <div className="dialog-actions">
            <button type="submit" className="danger" disabled={loading} aria-describedby={warningId}>
              Delete my account
            </button>
          </div>
        </>
      ) : (
        <p>
          To delete it, first set a password {passwordReset ? "via “Forgot password?”" : "(ask the server’s administrator)"}
          , then come back here: deleting asks for it.{" "}
          {passwordReset && <ForgotPasswordLink>Set a password</ForgotPasswordLink>}
        </p>
      )}
    </form>
  );
}
