import { navigate } from "../lib/router";

/** To `/forgot-password`, where a mailed link sets a (new) password. */
export function ForgotPasswordLink({ children = "Forgot password?" }: { children?: string }) {
  return (
    <a
      href="/forgot-password"
      onClick={(e) => {
        e.preventDefault();
        navigate("/forgot-password");
      }}
    >
      {children}
    </a>
  );
}
