import { useMutation } from "@apollo/client/react";
import { useState } from "react";
import { AcceptTermsDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { Dialog } from "./Dialog";
import { TermsLink } from "./TermsLink";

/** The server's terms changed (or were never accepted): accept them, later, or sign out. */
export function TermsPrompt({
  version,
  url,
  onLater,
  onSignOut,
}: {
  version: string;
  url: string | null;
  onLater: () => void;
  onSignOut: () => void;
}) {
  const [accept, { loading }] = useMutation(AcceptTermsDocument);
  const [error, setError] = useState<string | null>(null);

  async function agree() {
    setError(null);
    try {
      await accept({ variables: { version } }); // the cache's account follows: this closes
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <Dialog title="Terms of service" onClose={onLater}>
      <p>
        Please read and accept the <TermsLink url={url} version={version} /> to keep using ChatQL.
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
        <button type="button" onClick={onLater}>
          Later
        </button>
        <button type="button" className="primary" disabled={loading} onClick={() => void agree()}>
          Accept
        </button>
      </div>
    </Dialog>
  );
}
