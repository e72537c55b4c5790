/** The storyboard of a job that awaits review: a card per scene (its clip, whose preview plays on
 * hover; its text, edited in place; its voice; the other clips found for it, and a search for
 * more), dragged (or moved with buttons) into a new order; the subtitle and music settings; then
 * save, or render. The server holds the storyboard: a reload shows what was saved. */
import { useEffect, useRef, useState } from "preact/hooks";
import { describeError } from "../api/client";
import { getJob, jobPath, listArtifacts, videoUrl } from "../api/jobs";
import {
  editStoryboard,
  getStoryboard,
  previewScene,
  renderStoryboard,
  searchFootage,
  uploadClip,
} from "../api/storyboard";
import type { Storyboard, StoryboardEdit, StoryClip } from "../api/types";
import { useApiKeyVersion } from "../hooks/useApi";
import { useScopeToken, useSignedMedia } from "../hooks/useToken";
import {
  changed,
  chooseClip,
  draftOf,
  moveScene,
  removeScene,
  sceneTime,
  setText,
  toEdit,
  type DraftScene,
} from "../lib/storyboard";
import { Loading, Notice } from "./Notice";

interface Settings {
  color: string;
  fontSize: number;
  wordHighlight: boolean;
  useMusic: boolean;
}

const settingsOf = (board: Storyboard): Settings => ({
  color: String(board.settings.color ?? "#FFFF00"),
  fontSize: Number(board.settings.fontSize ?? 80),
  wordHighlight: Boolean(board.settings.wordHighlight),
  useMusic: Boolean(board.settings.useMusic),
});

export function StoryboardEditor(props: { jobId: string; onRendered: () => void }) {
  const { jobId, onRendered } = props;
  const [board, setBoard] = useState<Storyboard | null>(null);
  const [scenes, setScenes] = useState<DraftScene[]>([]);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [voiceUrl, setVoiceUrl] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: "error" | "success"; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragged, setDragged] = useState<number | null>(null);
  const keyVersion = useApiKeyVersion();
  const files = useScopeToken(jobPath(jobId));

  /** The server's storyboard; after a save the draft's order is its order, so the cards keep
   * their names (`keys`) and what runs in them. */
  const load = (found: Storyboard, keys: readonly string[] = []) => {
    setBoard(found);
    setScenes(draftOf(found, keys));
    setSettings(settingsOf(found));
  };

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const [found, artifacts] = await Promise.all([getStoryboard(jobId), listArtifacts(jobId)]);
        if (!live) return;
        load(found);
        setVoiceUrl(artifacts.find((artifact) => artifact.kind === "voice")?.url ?? null);
      } catch (caught) {
        if (live) setMessage({ kind: "error", text: describeError(caught) });
      }
    })();
    return () => {
      live = false;
    };
  }, [jobId, keyVersion]);

  if (!board || !settings) {
    return message ? <Notice kind={message.kind}>{message.text}</Notice> : <Loading what="the storyboard" />;
  }

  const settingsEdit = (): StoryboardEdit => {
    const before = settingsOf(board);
    const edit: StoryboardEdit = {};
    if (settings.color !== before.color) edit.color = settings.color;
    if (settings.fontSize !== before.fontSize) edit.fontSize = settings.fontSize;
    if (settings.wordHighlight !== before.wordHighlight) edit.wordHighlight = settings.wordHighlight;
    if (settings.useMusic !== before.useMusic) edit.useMusic = settings.useMusic;
    return edit;
  };
  const dirty = changed(scenes, board) || Object.keys(settingsEdit()).length > 0;

  const save = async (): Promise<boolean> => {
    setMessage(null);
    try {
      const saved = await editStoryboard(jobId, toEdit(scenes, board.version, settingsEdit()));
      load(saved, scenes.map((scene) => scene.key));
      return true;
    } catch (caught) {
      setMessage({ kind: "error", text: describeError(caught) });
      return false;
    }
  };
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
    } finally {
      setBusy(false);
    }
  };
  const saveOnly = () =>
    run(async () => {
      if (await save()) setMessage({ kind: "success", text: "Storyboard saved." });
    });
  const render = () =>
    run(async () => {
      if (dirty && !(await save())) return;
      try {
        await renderStoryboard(jobId);
        onRendered();
      } catch (caught) {
        setMessage({ kind: "error", text: describeError(caught) });
      }
    });
  // A clip uploaded here plays from this server, with the job's URL token when it has a key.
  const sign = (url: string) => (url.startsWith("/api/") && files.ready ? files.sign(url) : url);
  const drop = (to: number) => {
    if (dragged !== null) setScenes(moveScene(scenes, dragged, to));
    setDragged(null);
  };

  return (
    <section class="panel storyboard" aria-label="Storyboard">
      <h2>Storyboard</h2>
      <p class="muted">
        Nothing is rendered until you ask. Edit a scene's words, pick another clip, drag the scenes
        into another order; only what you change is made again.
      </p>
      <ol class="scenes">
        {scenes.map((scene, index) => (
          <li key={scene.key} class={`scene-card${dragged === index ? " dragging" : ""}`}
            data-testid="scene" draggable
            onDragStart={(event) => {
              setDragged(index);
              event.dataTransfer?.setData("text/plain", String(index));
            }}
            onDragOver={(event) => event.preventDefault()}
            onDrop={(event) => {
              event.preventDefault();
              drop(index);
            }}
            onDragEnd={() => setDragged(null)}>
            <div class="scene-head">
              <span class="scene-number">Scene {index + 1}</span>
              <span class="muted" data-testid="scene-time">{sceneTime(scene)}</span>
              <span class="scene-moves">
                <button type="button" aria-label={`Move scene ${index + 1} up`} disabled={index === 0}
                  onClick={() => setScenes(moveScene(scenes, index, index - 1))}>↑</button>
                <button type="button" aria-label={`Move scene ${index + 1} down`} disabled={index === scenes.length - 1}
                  onClick={() => setScenes(moveScene(scenes, index, index + 1))}>↓</button>
                <button type="button" aria-label={`Delete scene ${index + 1}`} disabled={scenes.length === 1}
                  onClick={() => setScenes(removeScene(scenes, index))}>✕</button>
              </span>
            </div>
            <ClipPreview clip={scene.clip} sign={sign} />
            <textarea aria-label={`Scene ${index + 1} text`} rows={3} value={scene.text}
              onInput={(event) => setScenes(setText(scenes, index, event.currentTarget.value))} />
            {voiceUrl && files.ready && (
              <SceneVoice src={files.sign(voiceUrl)} scene={scene} number={index + 1} />
            )}
            <ScenePreview number={index + 1} disabled={busy}
              queue={async () => {
                // The preview renders the saved storyboard: an edit is saved first.
                if (dirty && !(await save())) return null;
                return (await previewScene(jobId, index + 1)).jobId;
              }} />
            <Candidates scene={scene} number={index + 1} sign={sign}
              choose={(clip) => setScenes((current) => chooseClip(current, scene.key, clip))}
              search={async (query) => (await searchFootage(jobId, query)).clips}
              upload={async (file) => (await uploadClip(jobId, file)).clip} />
          </li>
        ))}
      </ol>
      <fieldset class="storyboard-settings">
        <legend>Subtitles and music</legend>
        <label>
          Colour{" "}
          <input type="color" value={settings.color.toLowerCase()} aria-label="Subtitle colour"
            onInput={(event) => setSettings({ ...settings, color: event.currentTarget.value.toUpperCase() })} />
        </label>
        <label>
          Size ({settings.fontSize}){" "}
          <input type="range" min={20} max={200} step={2} value={settings.fontSize} aria-label="Subtitle size"
            onInput={(event) => setSettings({ ...settings, fontSize: Number(event.currentTarget.value) })} />
        </label>
        <label class="check">
          <input type="checkbox" checked={settings.wordHighlight}
            onChange={(event) => setSettings({ ...settings, wordHighlight: event.currentTarget.checked })} />{" "}
          Highlight the spoken word
        </label>
        <label class="check">
          <input type="checkbox" checked={settings.useMusic}
            onChange={(event) => setSettings({ ...settings, useMusic: event.currentTarget.checked })} />{" "}
          Background music
        </label>
      </fieldset>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      <div class="actions">
        <button type="button" onClick={saveOnly} disabled={busy || !dirty}>Save changes</button>
        <button type="button" class="primary" onClick={render} disabled={busy}>Render the video</button>
      </div>
    </section>
  );
}

/** The clip's still; its small rendition plays (muted) while the pointer is over it. */
function ClipPreview(props: { clip: StoryClip | null; sign: (url: string) => string }) {
  const { clip, sign } = props;
  const [playing, setPlaying] = useState(false);
  if (!clip) return <div class="clip-preview generated" data-testid="scene-clip">Generated background</div>;
  const label = `${clip.source} ${clip.id}${clip.description ? `: ${clip.description}` : ""}`;
  return (
    <div class="clip-preview" data-testid="scene-clip" data-clip={clip.key} title={label}
      onMouseEnter={() => setPlaying(true)} onMouseLeave={() => setPlaying(false)}>
      {playing && clip.previewUrl ? (
        <video src={sign(clip.previewUrl)} autoPlay muted loop playsInline aria-label={label} />
      ) : clip.thumbnailUrl ? (
        <img src={sign(clip.thumbnailUrl)} alt={label} loading="lazy" />
      ) : (
        <span>{label}</span>
      )}
      {clip.author && <span class="credit muted">{clip.author}</span>}
    </div>
  );
}

/** How often a scene's preview is asked about while it renders. */
const PREVIEW_POLL_MS = 1000;

/** A draft render of the scene alone, queued on demand, played here once done. */
function ScenePreview(props: { number: number; disabled: boolean; queue: () => Promise<string | null> }) {
  const { number, disabled, queue } = props;
  const [previewId, setPreviewId] = useState<string | null>(null);
  const [state, setState] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!previewId) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = async () => {
      try {
        const job = await getJob(previewId);
        if (!live) return;
        setState(job.state);
        if (job.state === "failed") setError(job.errorMessage ?? "The preview failed.");
        if (job.state === "queued" || job.state === "running") timer = setTimeout(ask, PREVIEW_POLL_MS);
      } catch (caught) {
        if (live) setError(describeError(caught));
      }
    };
    void ask();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [previewId]);
  const start = async () => {
    setError(null);
    setState("queued");
    try {
      const id = await queue();
      if (id === null) setState(null);
      setPreviewId(id);
    } catch (caught) {
      setState(null);
      setError(describeError(caught));
    }
  };
  const working = state === "queued" || state === "running";
  return (
    <div class="scene-preview">
      <button type="button" onClick={start} disabled={disabled || working}>
        {working ? `Rendering scene ${number}…` : `Preview scene ${number}`}
      </button>
      {previewId && state === "completed" && <PreviewPlayer jobId={previewId} number={number} />}
      {error && <Notice kind="error">{error}</Notice>}
    </div>
  );
}

function PreviewPlayer(props: { jobId: string; number: number }) {
  const media = useSignedMedia(videoUrl(props.jobId), jobPath(props.jobId));
  if (!media) return null;
  return <video class="preview-player" controls playsInline autoPlay {...media}
    aria-label={`Preview of scene ${props.number}`} data-testid="scene-preview" />;
}

/** The scene's stretch of the voice, played from its start to its end. */
function SceneVoice(props: { src: string; scene: DraftScene; number: number }) {
  const { src, scene, number } = props;
  const audio = useRef<HTMLAudioElement>(null);
  const spoken = scene.startS !== null && scene.endS !== null;
  const play = () => {
    const element = audio.current;
    if (!element || scene.startS === null) return;
    element.currentTime = scene.startS;
    void element.play();
  };
  return (
    <div class="scene-voice">
      <button type="button" onClick={play} disabled={!spoken}
        title={spoken ? undefined : "Spoken again at the render"}>
        Play scene {number}'s voice
      </button>
      <audio ref={audio} src={src} preload="none"
        onTimeUpdate={(event) => {
          if (scene.endS !== null && event.currentTarget.currentTime >= scene.endS) event.currentTarget.pause();
        }} />
    </div>
  );
}

function Candidates(props: {
  scene: DraftScene;
  number: number;
  sign: (url: string) => string;
  choose: (clip: StoryClip | null) => void;
  search: (query: string) => Promise<StoryClip[]>;
  upload: (file: File) => Promise<StoryClip>;
}) {
  const { scene, number, sign, choose, search, upload } = props;
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<StoryClip[]>([]);
  const [error, setError] = useState<string | null>(null);
  const offered = [...scene.candidates, ...found.filter((clip) => !scene.candidates.some((c) => c.key === clip.key))]
    .filter((clip) => clip.key !== scene.clip?.key);
  const ask = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      setFound(await search(query));
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <div class="candidates">
      <ul class="candidate-strip" aria-label={`Other clips for scene ${number}`}>
        {offered.map((clip) => (
          <li key={clip.key}>
            <button type="button" class="candidate" onClick={() => choose(clip)}
              aria-label={`Use ${clip.source} ${clip.id} for scene ${number}`} title={clip.description}>
              {clip.thumbnailUrl ? <img src={sign(clip.thumbnailUrl)} alt="" loading="lazy" /> : <span>{clip.source} {clip.id}</span>}
            </button>
          </li>
        ))}
        {scene.clip && (
          <li>
            <button type="button" class="candidate" onClick={() => choose(null)}
              aria-label={`Use a generated background for scene ${number}`}>
              <span>Generated</span>
            </button>
          </li>
        )}
      </ul>
      <form class="row" onSubmit={ask}>
        <input type="search" placeholder="Search stock footage" value={query} aria-label={`Search footage for scene ${number}`}
          onInput={(event) => setQuery(event.currentTarget.value)} />
        <button type="submit" disabled={!query.trim()}>Search</button>
      </form>
      <label class="upload-clip">
        Use a clip of your own{" "}
        <input type="file" accept="video/mp4,video/quicktime,video/webm,video/x-matroska,image/jpeg,image/png,image/webp"
          aria-label={`Upload a clip for scene ${number}`}
          onChange={async (event) => {
            const input = event.currentTarget;
            const file = input.files?.[0];
            if (!file) return;
            setError(null);
            try {
              const clip = await upload(file);
              setFound((known) => [clip, ...known.filter((other) => other.key !== clip.key)]);
              choose(clip);
            } catch (caught) {
              setError(describeError(caught));
            } finally {
              input.value = "";
            }
          }} />
      </label>
      {error && <Notice kind="error">{error}</Notice>}
    </div>
  );
}
