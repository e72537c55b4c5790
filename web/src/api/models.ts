/** The AI models the server can ask for a script. */
import { ApiError, authHeaders, errorMessage } from "./client";
import type { ModelsResponse } from "./types";

/** GET /api/models. Unlike the other calls, an answer with `status: "error"` is returned, not
 * thrown: it still names the default model the server will ask. */
export async function getModels(): Promise<ModelsResponse> {
  const response = await fetch("/api/models", {
    headers: { Accept: "application/json", ...authHeaders() },
  });
  const body = (await response.json().catch(() => null)) as ModelsResponse | null;
  if (body === null || (!response.ok && !("models" in body))) {
    throw new ApiError(errorMessage(response.status, body, response.statusText), response.status);
  }
  return body;
}
