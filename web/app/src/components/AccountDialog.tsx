import type { MeQuery } from "../gql/graphql";
import type { SignInOptions } from "../lib/useSignInOptions";
import { DeleteAccountForm } from "./DeleteAccountForm";
import { Dialog } from "./Dialog";
import { EmailForm } from "./EmailForm";
import { PasswordForm } from "./PasswordForm";
import { UsernameForm } from "./UsernameForm";

export type Account = MeQuery["me"];

/** Username, email, password, and leaving for good: one section each, each saved on its own. */
export function AccountDialog({ me, options, onClose }: { me: Account; options: SignInOptions; onClose: () => void }) {
  const emailShown = options.emailMode !== "OFF" || me.email !== null;
  return (
    <Dialog title="Account settings" onClose={onClose} className="account-dialog">
      <div className="account-sections">
        <UsernameForm me={me} />
        {emailShown && <EmailForm me={me} mode={options.emailMode} />}
        <PasswordForm me={me} passwordReset={options.passwordReset} />
        <DeleteAccountForm me={me} passwordReset={options.passwordReset} />
      </div>
    </Dialog>
  );
}
