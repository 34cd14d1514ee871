import { useEffect, useState } from "react";
import { clearAuthFlash, peekAuthFlash, type AuthMode } from "../lib/authFlash";
import { useSignInOptions } from "../lib/useSignInOptions";
import { AuthLayout } from "./AuthLayout";
import { OtherSignIns } from "./OtherSignIns";
import { SignInForm } from "./SignInForm";
import { SignUpForm } from "./SignUpForm";

/** Sign in, or create an account; either way the tokens become the session. */
export function AuthScreen() {
  const [flash] = useState(peekAuthFlash);
  useEffect(() => clearAuthFlash(), []);
  const [mode, setMode] = useState<AuthMode>(flash?.mode ?? "sign-in");
  const [notice, setNotice] = useState(flash?.notice ?? null);
  const { options, ready } = useSignInOptions();

  function switchMode(next: AuthMode) {
    setMode(next);
    setNotice(null);
  }

  const signingUp = mode === "sign-up";
  return (
    <AuthLayout title={signingUp ? "Create your account" : "Sign in"}>
      <div role="status" className="notice">
        {notice}
      </div>
      {!ready ? (
        <p className="muted">Loading…</p>
      ) : signingUp ? (
        <SignUpForm options={options} />
      ) : (
        <SignInForm options={options} />
      )}
      {ready && <OtherSignIns options={options} />}
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
    </AuthLayout>
  );
}
