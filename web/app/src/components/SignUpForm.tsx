import { useMutation } from "@apollo/client/react";
import { useState, type FormEvent } from "react";
import { RegisterDocument } from "../gql/graphql";
import { looksLikeEmail, MIN_PASSWORD } from "../lib/account";
import { formError } from "../lib/errors";
import { fromPayload, setSession } from "../lib/session";
import type { SignInOptions } from "../lib/useSignInOptions";
import { CheckField, Field } from "./Field";
import { TermsLink } from "./TermsLink";

type Errors = Partial<Record<"username" | "email" | "password" | "displayName" | "terms" | "form", string>>;

/** The server's argument names, as fields of this form. */
const FIELDS = { username: "username", email: "email", password: "password", displayName: "displayName", acceptTerms: "terms" };

/** A new account: email as the server asks for it, and the terms when it has some. */
export function SignUpForm({ options }: { options: SignInOptions }) {
  const [register, { loading }] = useMutation(RegisterDocument);
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [accepted, setAccepted] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const emailShown = options.emailMode !== "OFF";
  const emailRequired = options.emailMode === "REQUIRED";
  const terms = options.termsVersion;

  function check(): Errors {
    const found: Errors = {};
    if (username.trim().length < 3) found.username = "Choose a username of at least 3 characters.";
    if (emailRequired && !email.trim()) found.email = "Enter your email address.";
    else if (email.trim() && !looksLikeEmail(email)) found.email = "Enter a valid email address.";
    if (password.length < MIN_PASSWORD) found.password = `Use at least ${MIN_PASSWORD} characters.`;
    if (terms && !accepted) found.terms = "Accept the terms of service to create an account.";
    return found;
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = check();
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    try {
      const { data } = await register({
        variables: {
          username: username.trim().toLowerCase(),
          password,
          displayName: displayName.trim() || null,
          ...(emailShown && email.trim() ? { email: email.trim() } : {}),
          ...(terms ? { acceptTerms: accepted } : {}),
        },
      });
      if (data) setSession(fromPayload(data.register));
    } catch (err) {
      const { field, message } = formError(err, { fields: FIELDS });
      setErrors({ [field ?? "form"]: message });
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Field
        label="Username"
        name="username"
        autoComplete="username"
        autoCapitalize="none"
        spellCheck={false}
        required
        minLength={3}
        maxLength={32}
        value={username}
        error={errors.username}
        onChange={(e) => setUsername(e.target.value)}
      />
      {emailShown && (
        <Field
          label={emailRequired ? "Email" : "Email (optional)"}
          name="email"
          type="email"
          autoComplete="email"
          required={emailRequired}
          maxLength={254}
          hint="For resetting your password. We mail you a link to confirm it."
          value={email}
          error={errors.email}
          onChange={(e) => setEmail(e.target.value)}
        />
      )}
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD}
        value={password}
        error={errors.password}
        onChange={(e) => setPassword(e.target.value)}
      />
      <Field
        label="Display name"
        name="displayName"
        autoComplete="nickname"
        maxLength={64}
        value={displayName}
        error={errors.displayName}
        onChange={(e) => setDisplayName(e.target.value)}
      />
      {terms && (
        <CheckField
          label={
            <>
              I accept the <TermsLink url={options.termsUrl} version={terms} />
            </>
          }
          name="acceptTerms"
          required
          checked={accepted}
          error={errors.terms}
          onChange={(e) => setAccepted(e.target.checked)}
        />
      )}
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <button type="submit" className="primary" disabled={loading}>
        Create account
      </button>
    </form>
  );
}
