import { useMutation } from "@apollo/client/react";
import { useEffect, useId, useState } from "react";
import { RegenerateStreamKeyDocument, RevealStreamKeyDocument } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { Dialog } from "./Dialog";

/** Stands in for the key while it is hidden, so that the real one is never on the page unasked. */
const HIDDEN = "•".repeat(24);

/**
 * Going live: the server and the key to put into OBS (the key hidden until revealed, copyable
 * either way), rotating the key after a confirmation, and the encoder settings that suit the
 * transcoder (a keyframe every second, so that segments cut cleanly).
 */
export function StreamKeyPanel({ streamId, live }: { streamId: string; live: boolean }) {
  const [reveal] = useMutation(RevealStreamKeyDocument);
  const [regenerate, regenerating] = useMutation(RegenerateStreamKeyDocument);
  const [key, setKey] = useState<{ key: string; ingestUrl: string } | null>(null);
  const [shown, setShown] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [status, setStatus] = useState("");
  const [error, setError] = useState<string | null>(null);
  const headingId = useId();
  const serverId = useId();
  const keyId = useId();
  const hiddenId = useId();

  // Fetched once (the server and a copy button need it); shown only on request.
  useEffect(() => {
    let current = true;
    reveal({ variables: { streamId } })
      .then((result) => {
        if (current && result.data) setKey(result.data.streamKey);
      })
      .catch((err: unknown) => current && setError(describeError(err)));
    return () => {
      current = false;
    };
  }, [reveal, streamId]);

  async function copy(text: string, what: string) {
    try {
      await navigator.clipboard.writeText(text);
      setStatus(`${what} copied.`);
    } catch {
      setStatus(`Copying is not allowed here: reveal the ${what.toLowerCase()} and copy it yourself.`);
    }
  }

  async function rotate() {
    setError(null);
    try {
      const result = await regenerate({ variables: { streamId } });
      if (result.data) setKey(result.data.regenerateStreamKey);
      setStatus("A new key is ready: the old one no longer works. Put the new one into OBS.");
      setConfirming(false);
    } catch (err) {
      setError(describeError(err));
      setConfirming(false);
    }
  }

  return (
    <section className="studio-section" aria-labelledby={headingId}>
      <h2 id={headingId}>Stream key and OBS</h2>
      <p className="muted">
        In OBS: Settings → Stream → Service “Custom…”, then the server and the key below. The stream goes live when
        you start streaming and ends when you stop.
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="key-grid">
        <label htmlFor={serverId}>Server</label>
        <div className="key-row">
          <input
            id={serverId}
            readOnly
            value={key?.ingestUrl ?? ""}
            placeholder={key ? "Live video is not set up on this server" : "Loading…"}
          />
          <button type="button" disabled={!key?.ingestUrl} onClick={() => key && void copy(key.ingestUrl, "Server")}>
            Copy<span className="visually-hidden"> server</span>
          </button>
        </div>
        <label htmlFor={keyId}>Stream key</label>
        <div className="key-row">
          <input
            id={keyId}
            readOnly
            value={shown && key ? key.key : HIDDEN}
            aria-describedby={shown ? undefined : hiddenId}
            autoComplete="off"
            spellCheck={false}
          />
          <span id={hiddenId} className="visually-hidden">
            Hidden: reveal it to see it.
          </span>
          <button type="button" disabled={!key} onClick={() => setShown(!shown)}>
            {shown ? "Hide" : "Reveal"}
            <span className="visually-hidden"> key</span>
          </button>
          <button type="button" disabled={!key} onClick={() => key && void copy(key.key, "Key")}>
            Copy<span className="visually-hidden"> key</span>
          </button>
          <button type="button" className="danger" disabled={!key || regenerating.loading} onClick={() => setConfirming(true)}>
            Rotate key
          </button>
        </div>
      </div>
      <p className="muted" role="status">
        {status}
      </p>
      <h3>Encoder settings</h3>
      <dl className="obs-settings">
        <div>
          <dt>Encoder</dt>
          <dd>x264 (software) or your GPU’s H.264</dd>
        </div>
        <div>
          <dt>Rate control</dt>
          <dd>CBR</dd>
        </div>
        <div>
          <dt>Bitrate</dt>
          <dd>3000 kb/s for 720p at 30 fps (4500 kb/s for 1080p)</dd>
        </div>
        <div>
          <dt>Keyframe interval</dt>
          <dd>1 s</dd>
        </div>
        <div>
          <dt>Profile and tune</dt>
          <dd>main or high; zerolatency</dd>
        </div>
        <div>
          <dt>Audio</dt>
          <dd>AAC, 128 kb/s, 48 kHz</dd>
        </div>
      </dl>
      {confirming && (
        <Dialog title="Rotate the stream key?" onClose={() => setConfirming(false)}>
          <p>
            The current key stops working at once.
            {live ? " You are live with it: the stream will end now." : ""} You will need to put the new key into
            OBS.
          </p>
          <div className="dialog-actions">
            <button type="button" onClick={() => setConfirming(false)}>
              Keep the current key
            </button>
            <button type="button" className="danger" disabled={regenerating.loading} onClick={() => void rotate()}>
              Rotate key
            </button>
          </div>
        </Dialog>
      )}
    </section>
  );
}
