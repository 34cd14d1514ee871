import type { ReactNode } from "react";

/** The card of the sign-in screen and of the account pages (reset, verify, callback). */
export function AuthLayout({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="auth">
      <div className="auth-card">
        <h1 className="brand">
          <span aria-hidden="true" className="brand-mark" /> ChatQL
        </h1>
        <h2>{title}</h2>
        {children}
      </div>
    </main>
  );
}
