import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { LoginDocument } from "../gql/graphql";
import { formError } from "../lib/errors";
import { fromPayload, setSession } from "../lib/session";
import type { SignInOptions } from "../lib/useSignInOptions";
import { Field } from "./Field";
import { ForgotPasswordLink } from "./ForgotPasswordLink";

/** Username (or a verified email address) and password. */
export function SignInForm({ options }: { options: SignInOptions }) {
  const [login, { loading }] = useMutation(LoginDocument);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const byEmail = options.emailMode !== "OFF";

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    const username = name.trim().toLowerCase();
    try {
      const { data } = await login({ variables: { username, password } });
      if (data) setSession(fromPayload(data.login));
    } catch (err) {
      const { message } = formError(err, { unauthenticated: "form" });
      setError(
        username.includes("@") && byEmail
          ? `${message} Signing in by email works once the address is verified; your username always works.`
          : message,
      );
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Field
        label={byEmail ? "Username or email" : "Username"}
        name="username"
        autoComplete="username"
        autoCapitalize="none"
        spellCheck={false}
        required
        maxLength={254}
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      {options.passwordReset && (
        <p className="forgot">
          <ForgotPasswordLink />
        </p>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={loading}>
        Sign in
      </button>
    </form>
  );
}
