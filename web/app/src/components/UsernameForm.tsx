import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { UpdateProfileDocument } from "../gql/graphql";
import { formError } from "../lib/errors";
import { updateSessionUser } from "../lib/session";
import type { Account } from "./AccountDialog";
import { Field } from "./Field";

/** A new username; the old one stays reserved for me for a while (the server's cool-down). */
export function UsernameForm({ me }: { me: Account }) {
  const [update, { loading }] = useMutation(UpdateProfileDocument);
  const [username, setUsername] = useState(me.username);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const wanted = username.trim().toLowerCase();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setStatus(null);
    if (wanted === me.username) return;
    if (wanted.length < 3) {
      setError("Choose a username of at least 3 characters.");
      return;
    }
    const old = me.username;
    try {
      const { data } = await update({ variables: { input: { username: wanted } } });
      if (!data) return;
      updateSessionUser(data.updateProfile);
      setUsername(data.updateProfile.username);
      setStatus(
        `Your username is now @${data.updateProfile.username}. @${old} stays reserved for you for a while, so you can switch back and nobody else can take it meanwhile.`,
      );
    } catch (err) {
      setError(formError(err, { fields: { username: "username" } }).message);
    }
  }

  return (
    <form className="stack account-section" onSubmit={submit} noValidate aria-label="Username">
      <Field
        label="Username"
        name="username"
        autoComplete="username"
        autoCapitalize="none"
        spellCheck={false}
        required
        minLength={3}
        maxLength={32}
        hint="3–32 characters: a–z, 0–9, “_”, “.” or “-”. Others find you by it."
        value={username}
        error={error}
        onChange={(e) => setUsername(e.target.value)}
      />
      <p role="status" className="notice">
        {status}
      </p>
      <div className="dialog-actions">
        <button type="submit" disabled={loading || wanted === me.username}>
          Change username
        </button>
      </div>
    </form>
  );
}
