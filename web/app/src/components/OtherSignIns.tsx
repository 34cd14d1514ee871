import { useMutation } from "@apollo/client/react";
import { useState } from "react";
import { StartGuestSessionDocument } from "../gql/graphql";
import { socialStartUrl } from "../lib/account";
import { describeError } from "../lib/errors";
import { fromPayload, setSession } from "../lib/session";
import type { SignInOptions } from "../lib/useSignInOptions";

/** Social sign-in ("Continue with …", a full-page visit to the provider) and guest access. */
export function OtherSignIns({ options }: { options: SignInOptions }) {
  const [startGuest, { loading }] = useMutation(StartGuestSessionDocument);
  const [error, setError] = useState<string | null>(null);
  if (options.providers.length === 0 && !options.guestAccess) return null;

  async function asGuest() {
    setError(null);
    try {
      const { data } = await startGuest();
      if (data) setSession(fromPayload(data.startGuestSession));
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <div className="other-sign-ins">
      <p className="divider" aria-hidden="true">
        <span>or</span>
      </p>
      <ul className="stack">
        {options.providers.map((provider) => (
          <li key={provider.id}>
            <a className="button-link wide" href={socialStartUrl(provider.startUrl, window.location.origin)}>
              Continue with {provider.name}
            </a>
          </li>
        ))}
        {options.guestAccess && (
          <li>
            <button type="button" className="wide" disabled={loading} onClick={() => void asGuest()}>
              Continue as guest
            </button>
          </li>
        )}
      </ul>
      {options.guestAccess && <p className="muted field-hint">Guests can read public rooms and watch streams without an account.</p>}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
