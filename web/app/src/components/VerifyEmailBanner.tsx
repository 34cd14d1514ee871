import { useMutation } from "@apollo/client/react";
import { useEffect, useState } from "react";
import { RequestEmailVerificationDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";

/**
 * "Verify your email" with a new link on request, until the address is verified (`onCheck`
 * asks the server again whenever the tab comes back into focus: the link may have been opened
 * in another tab) or the bar is dismissed.
 */
export function VerifyEmailBanner({ email, onCheck }: { email: string; onCheck: () => void }) {
  const [resend, { loading }] = useMutation(RequestEmailVerificationDocument);
  const [status, setStatus] = useState<string | null>(null);
  const [dismissed, setDismissed] = useState(false);

  useEffect(() => {
    window.addEventListener("focus", onCheck);
    return () => window.removeEventListener("focus", onCheck);
  }, [onCheck]);

  if (dismissed) return null;
  return (
    <section className="notice-bar" aria-label="Verify your email">
      <p>
        Verify your email address <strong>{email}</strong>: open the link we mailed you.
      </p>
      <div className="notice-actions">
        <button
          type="button"
          disabled={loading}
          onClick={() =>
            void resend().then(
              () => setStatus("A new link is on its way."),
              (err: unknown) => setStatus(describeError(err)),
            )
          }
        >
          Resend link
        </button>
        <button type="button" className="icon" aria-label="Dismiss" onClick={() => setDismissed(true)}>
          ×
        </button>
      </div>
      <p role="status" className="notice-status">
        {status}
      </p>
    </section>
  );
}
