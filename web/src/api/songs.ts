/** The music library: list, upload, play and delete songs. */
import { ApiError, authHeaders, deleteJson, errorMessage, getJson } from "./client";
import type { MessageResponse, SkippedFile, SongList, UploadRefused, UploadResponse } from "./types";

/** The library's path: the scope of the URL tokens its songs play with. */
export const SONGS_PATH = "/api/songs";

/** A song's address: it plays from there, and DELETE removes it. */
export const songUrl = (name: string) => `${SONGS_PATH}/${encodeURIComponent(name)}`;

export const listSongs = () => getJson<SongList>(SONGS_PATH);

/** What the server did with an upload's files: the names it stored them under, and each file it
 * skipped with the reason. */
export interface UploadOutcome {
  stored: string[];
  skipped: SkippedFile[];
}

/** Upload one file (the page sends one request per file, so each gets its own answer). A 400
 * that says why the file was skipped is that file's answer, so it is returned, not thrown; any
 * other failure (the key, the size of the request, the network) throws ApiError. */
export async function uploadSong(file: File): Promise<UploadOutcome> {
  const body = new FormData();
  body.append("songs", file, file.name);
  let response: Response;
  try {
    response = await fetch("/api/upload-songs", {
      method: "POST",
      body,
      headers: { Accept: "application/json", ...authHeaders() },
    });
  } catch {
    throw new ApiError(errorMessage(0, null), 0);
  }
  const answer = (await response.json().catch(() => null)) as UploadResponse | UploadRefused | null;
  if (answer && Array.isArray(answer.skipped) && (response.ok || response.status === 400)) {
    return { stored: "songs" in answer ? answer.songs : [], skipped: answer.skipped };
  }
  throw new ApiError(errorMessage(response.status, answer, response.statusText), response.status);
}

export const deleteSong = (name: string) => deleteJson<MessageResponse>(songUrl(name));
