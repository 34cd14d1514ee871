import { useId } from "react";

export interface RoomFieldValues {
  name: string;
  description: string;
  isPrivate: boolean;
}

/** Name, description and visibility of a room: the same fields when creating and editing it. */
export function RoomFields({
  value,
  onChange,
  privateHint,
}: {
  value: RoomFieldValues;
  onChange: (value: RoomFieldValues) => void;
  privateHint: string;
}) {
  const ids = { name: useId(), desc: useId() };
  return (
    <>
      <label htmlFor={ids.name}>Room name</label>
      <input
        id={ids.name}
        required
        maxLength={100}
        value={value.name}
        onChange={(e) => onChange({ ...value, name: e.target.value })}
      />
      <label htmlFor={ids.desc}>Description</label>
      <textarea
        id={ids.desc}
        rows={2}
        maxLength={500}
        value={value.description}
        onChange={(e) => onChange({ ...value, description: e.target.value })}
      />
      <label className="check">
        <input
          type="checkbox"
          checked={value.isPrivate}
          onChange={(e) => onChange({ ...value, isPrivate: e.target.checked })}
        />
        {privateHint}
      </label>
    </>
  );
}
