/**
 * Marks the AI assistant (a bot user) wherever people are named: "bot" is read out too, as a
 * word of its own (hence the space before it).
 */
export function BotBadge() {
  return (
    <>
      {" "}
      <span className="tag bot">bot</span>
    </>
  );
}
