import type { AccountPage } from "../lib/router";
import { ForgotPasswordPage } from "./ForgotPasswordPage";
import { LoginCallbackPage } from "./LoginCallbackPage";
import { ResetPasswordPage } from "./ResetPasswordPage";
import { VerifyEmailPage } from "./VerifyEmailPage";

/** The pages mails and sign-in providers link to; each works signed in or out. */
export function AccountPageView({
  page,
  params,
  signedIn,
}: {
  page: AccountPage;
  params: Readonly<Record<string, string>>;
  signedIn: boolean;
}) {
  const token = params["token"] || null;
  switch (page) {
    case "forgot-password":
      return <ForgotPasswordPage signedIn={signedIn} />;
    case "reset-password":
      return <ResetPasswordPage token={token} signedIn={signedIn} />;
    case "verify-email":
      return <VerifyEmailPage token={token} signedIn={signedIn} />;
    case "login-callback":
      return <LoginCallbackPage params={params} signedIn={signedIn} />;
  }
}
