/** The bar a guest always sees: what they can do, and the way to an account. */
export function GuestBar({ onSignUp }: { onSignUp: () => void }) {
  return (
    <section className="notice-bar" aria-label="Guest access">
      <p>
        You are browsing as a guest — read public rooms and watch streams, or{" "}
        <button type="button" className="link" onClick={onSignUp}>
          Sign up
        </button>{" "}
        to take part.
      </p>
    </section>
  );
}
