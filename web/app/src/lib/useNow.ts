import { useEffect, useState } from "react";

/** The current time, refreshed every `interval` ms while `active` (a countdown's tick). */
export function useNow(interval = 1_000, active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), interval);
    return () => clearInterval(timer);
  }, [interval, active]);
  return now;
}
