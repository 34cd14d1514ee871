import { useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { RequestEmailVerificationDocument, UpdateProfileDocument, type EmailMode } from "../gql/graphql";
import { looksLikeEmail } from "../lib/account";
import { describeError, formError } from "../lib/errors";
import type { Account } from "./AccountDialog";
import { Field } from "./Field";

/** My address and whether it is verified; a new one has to be verified again. */
export function EmailForm({ me, mode }: { me: Account; mode: EmailMode }) {
  const [update, { loading }] = useMutation(UpdateProfileDocument);
  const [resend, resending] = useMutation(RequestEmailVerificationDocument);
  const [email, setEmail] = useState(me.email ?? "");
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const headingId = useId();
  const wanted = email.trim();
  const unchanged = wanted.toLowerCase() === (me.email ?? "").toLowerCase();

  async function save(address: string) {
    setError(null);
    setStatus(null);
    try {
      const { data } = await update({ variables: { input: { email: address } } });
      const saved = data?.updateProfile.email ?? null;
      setEmail(saved ?? "");
      setStatus(saved ? `We mailed a link to ${saved}. Open it to verify the address.` : "Your email address was removed.");
    } catch (err) {
      setError(formError(err, { fields: { email: "email" } }).message);
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    if (unchanged) return;
    if (!wanted && mode === "REQUIRED") {
      setError("This server needs an email address on every account.");
      return;
    }
    if (wanted && !looksLikeEmail(wanted)) {
      setError("Enter a valid email address.");
      return;
    }
    void save(wanted);
  }

  function sendAgain() {
    setStatus(null);
    resend().then(
      () => setStatus("A new link is on its way. Check your inbox."),
      (err: unknown) => setStatus(describeError(err)),
    );
  }

  return (
    <form className="stack account-section" onSubmit={submit} noValidate aria-labelledby={headingId}>
      <h3 id={headingId}>Email</h3>
      {me.email ? (
        <p>
          {me.email}{" "}
          {me.emailVerified ? (
            <span className="tag ok">Verified</span>
          ) : (
            <>
              <span className="tag warn">Not verified</span>{" "}
              <button type="button" className="link" disabled={resending.loading} onClick={sendAgain}>
                Resend link
              </button>
            </>
          )}
        </p>
      ) : (
        <p className="muted">No email address on your account: add one to be able to reset your password.</p>
      )}
      <Field
        label="Email address"
        name="email"
        type="email"
        autoComplete="email"
        maxLength={254}
        required={mode === "REQUIRED"}
        hint="A new address has to be verified again, with a link we mail to it."
        value={email}
        error={error}
        onChange={(e) => setEmail(e.target.value)}
      />
      <p role="status" className="notice">
        {status}
      </p>
      <div className="dialog-actions">
        {me.email && mode !== "REQUIRED" && (
          <button type="button" disabled={loading} onClick={() => void save("")}>
            Remove email
          </button>
        )}
        <button type="submit" disabled={loading || unchanged || !wanted}>
          Save email
        </button>
      </div>
    </form>
  );
}
