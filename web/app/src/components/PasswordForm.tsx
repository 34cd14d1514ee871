import { useMutation } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import { ChangePasswordDocument } from "../gql/graphql";
import { MIN_PASSWORD, newPasswordProblem } from "../lib/account";
import { formError } from "../lib/errors";
import { fromPayload, setSession } from "../lib/session";
import type { Account } from "./AccountDialog";
import { Field } from "./Field";
import { ForgotPasswordLink } from "./ForgotPasswordLink";

type Errors = Partial<Record<"old" | "password" | "confirm" | "form", string>>;

/** A new password (signs out every other device); an account without one is told how to get one. */
export function PasswordForm({ me, passwordReset }: { me: Account; passwordReset: boolean }) {
  const [change, { loading }] = useMutation(ChangePasswordDocument);
  const [old, setOld] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [status, setStatus] = useState<string | null>(null);
  const headingId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setStatus(null);
    const problem = !old ? { field: "old" as const, message: "Enter your current password." } : newPasswordProblem(password, confirm);
    if (problem) {
      setErrors({ [problem.field]: problem.message });
      return;
    }
    setErrors({});
    try {
      const { data } = await change({ variables: { oldPassword: old, newPassword: password } });
      if (!data) return;
      setSession(fromPayload(data.changePassword)); // new tokens: the old ones are revoked
      setOld("");
      setPassword("");
      setConfirm("");
      setStatus("Your password was changed, and your other devices were signed out.");
    } catch (err) {
      const { field, message } = formError(err, {
        fields: { oldPassword: "old", newPassword: "password", password: "password" },
        unauthenticated: "old",
      });
      setErrors({ [field ?? "form"]: message });
    }
  }

  if (!me.hasPassword) {
    return (
      <section className="stack account-section" aria-labelledby={headingId}>
        <h3 id={headingId}>Password</h3>
        <p>
          Your account has no password yet: you sign in with another service.{" "}
          {passwordReset
            ? "To set one, use “Forgot password?” with your verified email address."
            : "Ask the server’s administrator if you need one."}
        </p>
        {passwordReset && <ForgotPasswordLink />}
      </section>
    );
  }
  return (
    <form className="stack account-section" onSubmit={submit} noValidate aria-labelledby={headingId}>
      <h3 id={headingId}>Password</h3>
      <Field
        label="Current password"
        name="current-password"
        type="password"
        autoComplete="current-password"
        value={old}
        error={errors.old}
        onChange={(e) => setOld(e.target.value)}
      />
      <Field
        label="New password"
        name="new-password"
        type="password"
        autoComplete="new-password"
        minLength={MIN_PASSWORD}
        hint={`At least ${MIN_PASSWORD} characters. Your other devices will be signed out.`}
        value={password}
        error={errors.password}
        onChange={(e) => setPassword(e.target.value)}
      />
      <Field
        label="Confirm new password"
        name="confirm-password"
        type="password"
        autoComplete="new-password"
        value={confirm}
        error={errors.confirm}
        onChange={(e) => setConfirm(e.target.value)}
      />
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <p role="status" className="notice">
        {status}
      </p>
      <div className="dialog-actions">
        <button type="submit" disabled={loading || !old || !password}>
          Change password
        </button>
      </div>
    </form>
  );
}
