import type { Typist } from "../lib/useRoomLive";

/** "Ann is typing…", kept short for many typists. */
export function TypingLine({ typists }: { typists: Typist[] }) {
  const names = typists.map((t) => t.userName);
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  return (
    <div className="typing" aria-live="polite">
      {text}
    </div>
  );
}
