import { useId, type InputHTMLAttributes, type ReactNode } from "react";

type FieldProps = {
  label: ReactNode;
  /** Shown under the field and tied to it (aria-describedby), announced when it appears. */
  error?: string | null;
  hint?: ReactNode;
} & Omit<InputHTMLAttributes<HTMLInputElement>, "id">;

/** A labelled input with its hint and its error, as every account form shows them. */
export function Field({ label, error, hint, ...input }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(" ");
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy || undefined} {...input} />
      {hint && (
        <p id={hintId} className="field-hint muted">
          {hint}
        </p>
      )}
      {error && (
        <p id={errorId} className="form-error field-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}

/** A checkbox with its label beside it, and its error under it. */
export function CheckField({ label, error, ...input }: Omit<FieldProps, "hint" | "type">) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <>
      <div className="check">
        <input id={id} type="checkbox" aria-invalid={error ? true : undefined} aria-describedby={error ? errorId : undefined} {...input} />
        <label htmlFor={id}>{label}</label>
      </div>
      {error && (
        <p id={errorId} className="form-error field-error" role="alert">
          {error}
        </p>
      )}
    </>
  );
}
