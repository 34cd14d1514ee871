import type HlsType from "hls.js/light";
// The transmuxing worker as a file of our own origin: the app's CSP has no blob: workers.
import workerUrl from "hls.js/dist/hls.worker.js?url";
import { useEffect, useId, useRef, useState } from "react";
import { qualityButtonLabel, qualityOptions, type LevelInfo } from "../lib/streams";

/** Between attempts while the playlist is not there yet (the transcoder is starting). */
const RETRY_MS = 2_000;
/** A second media error this soon after recovering from one: recovering in place does not help. */
const RECOVERY_WINDOW_MS = 5_000;
/** A replay that cannot be loaded this often is gone; a live one is retried for as long as it is live. */
const REPLAY_ATTEMPTS = 3;

/**
 * An HLS player: hls.js over Media Source Extensions, loaded only when a video is shown (it is
 * the biggest library here), or the browser's own HLS (Safari on iOS) where MSE is missing.
 * Live: starts muted so that browsers allow it to play by itself; the native controls unmute.
 * A quality menu lists Auto and every rendition of the ladder.
 */
export function StreamPlayer({
  src,
  live,
  title,
  poster,
}: {
  src: string;
  live: boolean;
  title: string;
  poster?: string | null;
}) {
  const video = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<HlsType | null>(null);
  const [levels, setLevels] = useState<LevelInfo[]>([]);
  const [chosen, setChosen] = useState(-1);
  const chosenRef = useRef(-1); // kept across a restart of the player
  const [playing, setPlaying] = useState(-1);
  const [started, setStarted] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const element = video.current;
    if (!element) return;
    let stopped = false;
    let hls: HlsType | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let recovered = 0;
    let resume = live; // play as soon as there is something to play
    element.muted = live; // before anything plays: browsers let only muted videos start by themselves
    const play = () => {
      if (resume) void element.play().catch(() => undefined); // refused: the controls are there
    };

    async function start(target: HTMLVideoElement) {
      const { default: Hls } = await import("hls.js/light");
      if (stopped) return;
      if (!Hls.isSupported()) {
        if (target.canPlayType("application/vnd.apple.mpegurl")) {
          target.src = src;
          play();
        } else {
          setProblem("This browser cannot play this video.");
        }
        return;
      }
      /** A new player in a moment, from `from` seconds (-1: the live edge, or the start). */
      const startOver = (instance: HlsType, from = -1) => {
        resume = live || !target.paused; // a replay that was playing goes on playing
        hls = null;
        hlsRef.current = null;
        setTimeout(() => instance.destroy(), 0); // not from inside hls.js's own event dispatch
        retry = setTimeout(() => attach(from), live ? RETRY_MS : 0);
      };
      const attach = (from = -1) => {
        const instance = new Hls({
          workerPath: workerUrl,
          liveDurationInfinity: true,
          backBufferLength: 30,
          startPosition: from,
        });
        hls = instance;
        hlsRef.current = instance;
        instance.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
          setLevels(data.levels.map(({ height, width, bitrate }) => ({ height, width, bitrate })));
          setProblem(null);
          if (chosenRef.current >= 0) instance.currentLevel = chosenRef.current;
          play();
        });
        instance.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => setPlaying(data.level));
        instance.on(Hls.Events.ERROR, (_event, data) => {
          if (!data.fatal) return;
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR && Date.now() - recovered > RECOVERY_WINDOW_MS) {
            recovered = Date.now();
            instance.recoverMediaError();
          } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && (live || ++failures < REPLAY_ATTEMPTS)) {
            // Recovering in place failed again: start afresh, live at the edge a little later,
            // a replay just after the part that failed (a broadcast's first seconds can lack
            // the sound that the rest has, which the browser's buffers cannot take).
            startOver(instance, live ? -1 : Math.max(target.currentTime, data.frag?.end ?? 0) + 1);
          } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR && (live || ++failures < REPLAY_ATTEMPTS)) {
            // A live playlist appears a few seconds after the broadcaster connects, and a
            // network blip should not end the show: start over in a moment.
            startOver(instance);
          } else {
            setProblem("The video could not be played.");
          }
        });
        instance.loadSource(src);
        instance.attachMedia(target);
      };
      attach();
    }

    setStarted(false);
    setLevels([]);
    setChosen(-1);
    chosenRef.current = -1;
    void start(element);
    return () => {
      stopped = true;
      clearTimeout(retry);
      hls?.destroy();
      hlsRef.current = null;
      element.removeAttribute("src");
      element.load();
    };
  }, [src, live]);

  function choose(index: number) {
    setChosen(index);
    chosenRef.current = index;
    if (hlsRef.current) hlsRef.current.currentLevel = index;
  }

  return (
    <div className="player">
      <div className="player-screen">
        <video
          ref={video}
          className="player-video"
          controls
          playsInline
          muted={live}
          autoPlay={live}
          poster={poster ?? undefined}
          aria-label={live ? `${title}, live video` : `${title}, replay`}
          onPlaying={() => setStarted(true)}
        />
        {!started && !problem && live && (
          <p className="player-overlay" aria-hidden="true">
            Starting the stream…
          </p>
        )}
        {problem && (
          <p className="player-overlay" role="alert">
            {problem}
          </p>
        )}
      </div>
      <div className="player-bar">
        <span className="muted">{live ? "" : "Replay"}</span>
        <QualityMenu levels={levels} chosen={chosen} playing={playing} onChoose={choose} />
      </div>
    </div>
  );
}

/** "Quality: Auto (360p)"; opens the list of renditions to pick from (Escape closes it). */
function QualityMenu({
  levels,
  chosen,
  playing,
  onChoose,
}: {
  levels: LevelInfo[];
  chosen: number;
  playing: number;
  onChoose: (index: number) => void;
}) {
  const [open, setOpen] = useState(false);
  const wrap = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const menuId = useId();

  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape") return;
      setOpen(false);
      button.current?.focus();
    };
    const outside = (e: MouseEvent) => {
      if (wrap.current && !wrap.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("mousedown", outside);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("mousedown", outside);
    };
  }, [open]);

  if (levels.length === 0) return null; // native HLS, or not loaded yet: nothing to choose
  return (
    <div className="menu-wrap" ref={wrap}>
      <button
        ref={button}
        type="button"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen(!open)}
      >
        Quality: {qualityButtonLabel(levels, chosen, playing)}
      </button>
      {open && (
        <div id={menuId} className="menu menu-up" role="group" aria-label="Quality">
          {qualityOptions(levels).map((option) => (
            <button
              key={option.index}
              type="button"
              aria-pressed={option.index === chosen}
              onClick={() => {
                onChoose(option.index);
                setOpen(false);
                button.current?.focus();
              }}
            >
              {option.label}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
