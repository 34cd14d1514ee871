/** "terms of service", a link to them when the server says where they are. */
export function TermsLink({ url, version }: { url: string | null; version: string }) {
  const safe = url && /^https?:\/\/|^\//i.test(url) ? url : null;
  return safe ? (
    <a href={safe} target="_blank" rel="noreferrer">
      terms of service<span className="visually-hidden"> (version {version}, opens in a new tab)</span>
    </a>
  ) : (
    <>terms of service (version {version})</>
  );
}
