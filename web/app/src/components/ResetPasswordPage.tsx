import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { ResetPasswordDocument } from "../gql/graphql";
import { MIN_PASSWORD, newPasswordProblem } from "../lib/account";
import { formError } from "../lib/errors";
import { navigate } from "../lib/router";
import { fromPayload, setSession } from "../lib/session";
import { AuthLayout } from "./AuthLayout";
import { BackLink } from "./BackLink";
import { Field } from "./Field";

type Errors = Partial<Record<"password" | "confirm" | "token" | "form", string>>;

function AskAgain() {
  return (
    <a
      href="/forgot-password"
      onClick={(e) => {
        e.preventDefault();
        navigate("/forgot-password", { replace: true });
      }}
    >
      Ask for a new link
    </a>
  );
}

/** `/reset-password?token=`: a new password from a mailed link; it signs in (and out elsewhere). */
export function ResetPasswordPage({ token, signedIn }: { token: string | null; signedIn: boolean }) {
  const [reset, { loading }] = useMutation(ResetPasswordDocument);
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Errors>({});

  async function submit(event: FormEvent) {
    event.preventDefault();
    const problem = newPasswordProblem(password, confirm);
    if (problem) {
      setErrors({ [problem.field]: problem.message });
      return;
    }
    setErrors({});
    if (!token) return;
    try {
      const { data } = await reset({ variables: { token, newPassword: password } });
      if (!data) return;
      navigate("/", { replace: true }); // the token is spent: not to be found again with Back
      setSession(fromPayload(data.resetPassword));
    } catch (err) {
      const { field, message } = formError(err, { fields: { password: "password", newPassword: "password", token: "token" } });
      setErrors({ [field ?? "form"]: message });
    }
  }

  if (!token) {
    return (
      <AuthLayout title="Choose a new password">
        <p className="form-error">This link is incomplete: open the whole link from the mail, or ask for a new one.</p>
        <p className="auth-switch">
          <AskAgain /> · <BackLink signedIn={signedIn} />
        </p>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Choose a new password">
      <form onSubmit={submit} noValidate>
        <p className="muted">Signing in with the new password signs you out on every other device.</p>
        <Field
          label="New password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          minLength={MIN_PASSWORD}
          hint={`At least ${MIN_PASSWORD} characters.`}
          value={password}
          error={errors.password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <Field
          label="Confirm new password"
          name="confirm"
          type="password"
          autoComplete="new-password"
          required
          value={confirm}
          error={errors.confirm}
          onChange={(e) => setConfirm(e.target.value)}
        />
        {(errors.token || errors.form) && (
          <p className="form-error" role="alert">
            {errors.token ?? errors.form} {errors.token && <AskAgain />}
          </p>
        )}
        <button type="submit" className="primary" disabled={loading}>
          Set new password
        </button>
      </form>
      <p className="auth-switch">
        <BackLink signedIn={signedIn} />
      </p>
    </AuthLayout>
  );
}
