/** The music library: list, upload, play and delete songs. */
import { deleteJson, getJson, request } from "./client";
import type { MessageResponse, SongList, UploadResponse } from "./types";

/** The library's path: the scope of the URL tokens its songs play with. */
export const SONGS_PATH = "/api/songs";

/** A song's address: it plays from there, and DELETE removes it. */
export const songUrl = (name: string) => `${SONGS_PATH}/${encodeURIComponent(name)}`;

export const listSongs = () => getJson<SongList>(SONGS_PATH);

/** Upload one MP3 (the page sends one request per file, so each gets its own answer). */
export function uploadSong(file: File): Promise<UploadResponse> {
  const body = new FormData();
  body.append("songs", file, file.name);
  return request<UploadResponse>("/api/upload-songs", { method: "POST", body });
}

export const deleteSong = (name: string) => deleteJson<MessageResponse>(songUrl(name));
