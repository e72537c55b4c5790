/** Music: upload MP3s (drop them, pick files or a whole folder; one request per file, so each
 * file gets its own answer: stored, or skipped and why), list, play and delete the library's
 * songs. */
import { useRef, useState } from "preact/hooks";
import { describeError } from "../api/client";
import {
  SONGS_PATH,
  deleteSong,
  listSongs,
  songUrl,
  type UploadOutcome,
  uploadSong,
} from "../api/songs";
import { Loading, Notice } from "../components/Notice";
import { useApi } from "../hooks/useApi";
import { useSignedMedia } from "../hooks/useToken";
import { formatBytes, formatTime } from "../lib/format";

interface Upload {
  key: number;
  file: string;
  state: "uploading" | "done" | "failed";
  message: string;
}

let uploadKey = 0;

/** A file's line in the list: where the server stored it, or why it skipped it. */
function describeOutcome(outcome: UploadOutcome): Pick<Upload, "state" | "message"> {
  if (outcome.stored.length > 0) return { state: "done", message: `Stored as ${outcome.stored.join(", ")}.` };
  const reasons = outcome.skipped.map((file) => file.reason).join("; ");
  return { state: "failed", message: `Skipped: ${reasons}.` };
}

export function MusicPage() {
  const songs = useApi("songs", listSongs);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragging, setDragging] = useState(false);
  const [message, setMessage] = useState<{ kind: "error" | "success"; text: string } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const folderPicker = useRef<HTMLInputElement>(null);

  const update = (key: number, change: Partial<Upload>) =>
    setUploads((list) => list.map((upload) => (upload.key === key ? { ...upload, ...change } : upload)));

  const upload = async (files: File[]) => {
    const started = files.map((file) => ({ key: ++uploadKey, file: file.name, state: "uploading" as const, message: "Uploading…" }));
    setUploads((list) => [...started, ...list].slice(0, 20));
    await Promise.all(
      files.map(async (file, index) => {
        try {
          update(started[index].key, describeOutcome(await uploadSong(file)));
        } catch (caught) {
          update(started[index].key, { state: "failed", message: describeError(caught) });
        }
      }),
    );
    await songs.reload();
  };

  const pick = (input: HTMLInputElement) => {
    const files = [...(input.files ?? [])];
    input.value = "";
    if (files.length) void upload(files);
  };

  const remove = async (name: string) => {
    setConfirming(null);
    try {
      const answer = await deleteSong(name);
      setMessage({ kind: "success", text: answer.message });
    } catch (caught) {
      setMessage({ kind: "error", text: describeError(caught) });
    }
    await songs.reload();
  };

  return (
    <div class="music">
      <section class="panel">
        <h1 tabIndex={-1}>Music</h1>
        <div
          class={`dropzone${dragging ? " dragging" : ""}`}
          data-testid="dropzone"
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            const files = [...(event.dataTransfer?.files ?? [])];
            if (files.length) void upload(files);
          }}
        >
          <p>Drop MP3 files here, or</p>
          <span class="row">
            <button type="button" class="primary" onClick={() => picker.current?.click()}>Choose files…</button>
            <button type="button" onClick={() => folderPicker.current?.click()}>Choose a folder…</button>
          </span>
          <input ref={picker} id="song-files" type="file" accept=".mp3,audio/mpeg" multiple hidden
            aria-label="MP3 files to upload" onChange={(event) => pick(event.currentTarget)} />
          {/* A folder's other files (covers, notes) go up too: the server says why it skips each. */}
          <input ref={(input) => { folderPicker.current = input; if (input) input.webkitdirectory = true; }}
            id="song-folder" type="file" multiple hidden aria-label="A folder of MP3 files to upload"
            onChange={(event) => pick(event.currentTarget)} />
        </div>
        {uploads.length > 0 && (
          <ul class="uploads" aria-live="polite" data-testid="uploads">
            {uploads.map((item) => (
              <li key={item.key} class={`upload-${item.state}`}>
                <strong>{item.file}</strong>: {item.message}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="panel">
        <h2>Library</h2>
        {message && <Notice kind={message.kind}>{message.text}</Notice>}
        {songs.error && <Notice kind="error">{songs.error}</Notice>}
        {!songs.data && songs.loading && <Loading what="songs" />}
        {songs.data && songs.data.songs.length === 0 && <p class="muted">No songs yet.</p>}
        {songs.data && songs.data.songs.length > 0 && (
          <ul class="songs" data-testid="songs">
            {songs.data.songs.map((song) => (
              <li key={song.name} class="song">
                <div class="song-head">
                  <strong class="song-name">{song.name}</strong>
                  <span class="muted">{formatBytes(song.bytes)} · {formatTime(song.modifiedAt)}</span>
                </div>
                <div class="song-controls">
                  <SongPlayer name={song.name} />
                  {confirming === song.name ? (
                    <span class="row">
                      <button type="button" class="danger" onClick={() => remove(song.name)}>Delete {song.name}</button>
                      <button type="button" onClick={() => setConfirming(null)}>Keep</button>
                    </span>
                  ) : (
                    <button type="button" onClick={() => setConfirming(song.name)} aria-label={`Delete ${song.name}`}>Delete</button>
                  )}
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

/** A song's player; its address carries a URL token of the songs when the server has a key. */
function SongPlayer(props: { name: string }) {
  const media = useSignedMedia(songUrl(props.name), SONGS_PATH);
  if (!media) return <span class="player-pending" aria-busy="true" />;
  return <audio controls preload="none" {...media} aria-label={`Play ${props.name}`} />;
}
