import { useEffect, useId, useRef, type MouseEvent, type ReactNode } from "react";

/**
 * A modal on the native <dialog>: focus is trapped, Escape closes, focus returns after.
 * `dismissible` ones (nothing to lose, like an image viewer) also close on a backdrop click.
 */
export function Dialog({
  title,
  onClose,
  children,
  className = "",
  dismissible = false,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  className?: string;
  dismissible?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement as HTMLElement | null;
    dialog?.showModal();
    return () => {
      dialog?.close();
      opener?.focus();
    };
  }, []);

  // A click on the backdrop lands on the <dialog> itself, outside its box.
  function onBackdrop(event: MouseEvent<HTMLDialogElement>) {
    if (!dismissible || event.target !== event.currentTarget) return;
    const box = event.currentTarget.getBoundingClientRect();
    const inside =
      event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) onClose();
  }

  return (
    <dialog
      ref={ref}
      className={className ? `dialog ${className}` : "dialog"}
      aria-labelledby={titleId}
      onClick={onBackdrop}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div className="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" className="icon" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      {children}
    </dialog>
  );
}
