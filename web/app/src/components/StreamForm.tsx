import { useMutation, useQuery } from "@apollo/client/react";
import { useId, useState, type FormEvent } from "react";
import {
  CreateStreamDocument,
  StreamCategoriesDocument,
  UpdateStreamDocument,
  type StudioStreamFragment,
  type UpdateStreamInput,
} from "../gql/graphql";
import { formError } from "../lib/errors";
import { fromLocalInput, parseTags, tagsProblem, toLocalInput } from "../lib/streams";
import { Field } from "./Field";

const FIELDS = { title: "title", description: "description", category: "category", tags: "tags", scheduledStart: "scheduledStart" };
type FieldName = keyof typeof FIELDS;

/**
 * A stream's details: title, description, category (the existing ones suggested), tags and
 * the planned start. New, it creates a SCHEDULED stream; existing, it sends only what changed
 * (a start already passed would be refused if sent again unchanged).
 */
export function StreamForm({
  stream,
  onSaved,
  onCancel,
}: {
  stream?: StudioStreamFragment;
  onSaved: (saved: StudioStreamFragment) => void;
  onCancel?: () => void;
}) {
  const initial = {
    title: stream?.title ?? "",
    description: stream?.description ?? "",
    category: stream?.category ?? "",
    tags: stream?.tags.join(", ") ?? "",
    scheduledStart: toLocalInput(stream?.scheduledStart),
  };
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState<Partial<Record<FieldName | "form", string>>>({});
  const [saved, setSaved] = useState<string | null>(null);
  const categories = useQuery(StreamCategoriesDocument, { fetchPolicy: "cache-first" });
  const [create, creating] = useMutation(CreateStreamDocument, { refetchQueries: ["Streams", "StreamCategories"] });
  const [update, updating] = useMutation(UpdateStreamDocument, { refetchQueries: ["StreamCategories"] });
  const descriptionId = useId();
  const descriptionError = `${descriptionId}-error`;
  const listId = useId();
  const canSchedule = !stream || stream.status === "SCHEDULED";

  const set = (name: keyof typeof initial) => (value: string) => {
    setValues((v) => ({ ...v, [name]: value }));
    setSaved(null);
  };

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaved(null);
    const found: typeof errors = {};
    if (!values.title.trim()) found.title = "Give the stream a title.";
    const tags = parseTags(values.tags);
    const tagError = tagsProblem(tags);
    if (tagError) found.tags = tagError;
    const start = fromLocalInput(values.scheduledStart);
    if (values.scheduledStart && !start) found.scheduledStart = "Enter a date and time.";
    setErrors(found);
    if (Object.keys(found).length) return;

    const fields = {
      title: values.title.trim(),
      description: values.description.trim() || null,
      category: values.category.trim() || null,
      tags: tags.tags,
      scheduledStart: start,
    };
    try {
      if (!stream) {
        const result = await create({ variables: { input: fields } });
        if (result.data) onSaved(result.data.createStream);
        return;
      }
      const input: UpdateStreamInput = { id: stream.id };
      if (values.title !== initial.title) input.title = fields.title;
      if (values.description !== initial.description) input.description = fields.description;
      if (values.category !== initial.category) input.category = fields.category;
      if (values.tags !== initial.tags) input.tags = fields.tags;
      if (canSchedule && values.scheduledStart !== initial.scheduledStart) input.scheduledStart = fields.scheduledStart;
      const result = await update({ variables: { input } });
      if (result.data) {
        setSaved("Saved.");
        onSaved(result.data.updateStream);
      }
    } catch (err) {
      const problem = formError(err, { fields: FIELDS });
      setErrors(problem.field ? { [problem.field]: problem.message } : { form: problem.message });
    }
  }

  const busy = creating.loading || updating.loading;
  return (
    <form className="stack stream-form" onSubmit={(e) => void submit(e)} noValidate>
      <Field
        label="Title"
        value={values.title}
        onChange={(e) => set("title")(e.target.value)}
        maxLength={100}
        required
        error={errors.title}
      />
      <label htmlFor={descriptionId}>Description</label>
      <textarea
        id={descriptionId}
        rows={3}
        value={values.description}
        onChange={(e) => set("description")(e.target.value)}
        aria-invalid={errors.description ? true : undefined}
        aria-describedby={errors.description ? descriptionError : undefined}
      />
      {errors.description && (
        <p id={descriptionError} className="form-error field-error" role="alert">
          {errors.description}
        </p>
      )}
      <Field
        label="Category"
        value={values.category}
        onChange={(e) => set("category")(e.target.value)}
        maxLength={40}
        list={listId}
        autoComplete="off"
        hint="For example Music, Gaming or Talk."
        error={errors.category}
      />
      <datalist id={listId}>
        {categories.data?.streamCategories.map((c) => (
          <option key={c.name} value={c.name} />
        ))}
      </datalist>
      <Field
        label="Tags"
        value={values.tags}
        onChange={(e) => set("tags")(e.target.value)}
        autoComplete="off"
        hint="Up to 10, separated by commas or spaces: jazz, live-music"
        error={errors.tags}
      />
      {canSchedule && (
        <Field
          label="Scheduled start"
          type="datetime-local"
          value={values.scheduledStart}
          onChange={(e) => set("scheduledStart")(e.target.value)}
          hint="When you plan to go live; the stream starts when you publish to it."
          error={errors.scheduledStart}
        />
      )}
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <div className="dialog-actions">
        <p className="muted push-start" role="status">
          {saved}
        </p>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {stream ? "Save changes" : "Create stream"}
        </button>
      </div>
    </form>
  );
}
