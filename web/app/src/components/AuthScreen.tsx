import { useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { LoginDocument, RegisterDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { fromPayload, setSession } from "../lib/session";

type Mode = "sign-in" | "sign-up";

/** Sign in, or create an account; either way the tokens become the session. */
export function AuthScreen() {
  const [mode, setMode] = useState<Mode>("sign-in");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [login, loginState] = useMutation(LoginDocument);
  const [register, registerState] = useMutation(RegisterDocument);
  const busy = loginState.loading || registerState.loading;
  const ids = { user: useId(), pass: useId(), name: useId(), error: useId() };

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    const name = username.trim().toLowerCase();
    try {
      if (mode === "sign-in") {
        const { data } = await login({ variables: { username: name, password } });
        if (data) setSession(fromPayload(data.login));
      } else {
        const { data } = await register({
          variables: { username: name, password, displayName: displayName.trim() || null },
        });
        if (data) setSession(fromPayload(data.register));
      }
    } catch (err) {
      setError(describeError(err));
    }
  }

  function switchMode(next: Mode) {
    setMode(next);
    setError(null);
  }

  const signingUp = mode === "sign-up";
  return (
    <main className="auth">
      <div className="auth-card">
        <h1 className="brand">
          <span aria-hidden="true" className="brand-mark" /> ChatQL
        </h1>
        <h2>{signingUp ? "Create your account" : "Sign in"}</h2>
        <form onSubmit={submit} aria-describedby={error ? ids.error : undefined} noValidate>
          <label htmlFor={ids.user}>Username</label>
          <input
            id={ids.user}
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            minLength={3}
            maxLength={32}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
          <label htmlFor={ids.pass}>Password</label>
          <input
            id={ids.pass}
            name="password"
            type="password"
            autoComplete={signingUp ? "new-password" : "current-password"}
            required
            minLength={signingUp ? 8 : 1}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          {signingUp && (
            <>
              <label htmlFor={ids.name}>Display name</label>
              <input
                id={ids.name}
                name="displayName"
                autoComplete="nickname"
                maxLength={64}
                value={displayName}
                onChange={(e) => setDisplayName(e.target.value)}
              />
            </>
          )}
          {error && (
            <p id={ids.error} className="form-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {signingUp ? "Create account" : "Sign in"}
          </button>
        </form>
        <p className="auth-switch">
          {signingUp ? (
            <>
              Already have an account?{" "}
              <button type="button" className="link" onClick={() => switchMode("sign-in")}>
                Sign in instead
              </button>
            </>
          ) : (
            <>
              New here?{" "}
              <button type="button" className="link" onClick={() => switchMode("sign-up")}>
                Create account
              </button>
            </>
          )}
        </p>
      </div>
    </main>
  );
}
