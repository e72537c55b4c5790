/** The voices that can narrate, and a short spoken sample of one. */
import { ApiError, authHeaders, errorMessage, getJson } from "./client";
import type { VoiceList } from "./types";

export const listVoices = () => getJson<VoiceList>("/api/voices");

/** The sample as audio; the API's message when there is none. `signal` aborts the download. */
export async function fetchVoiceSample(voiceId: string, signal?: AbortSignal): Promise<Blob> {
  const response = await fetch(`/api/voices/${encodeURIComponent(voiceId)}/sample`, {
    headers: authHeaders(),
    signal,
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ApiError(errorMessage(response.status, body, response.statusText), response.status);
  }
  return response.blob();
}
