import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ApiError,
  authHeaders,
  describeError,
  errorMessage,
  getJson,
  loadApiKey,
  onApiKeyChange,
  postJson,
  saveApiKey,
} from "./client";

afterEach(() => vi.unstubAllGlobals());

function stubFetch(status: number, body: unknown) {
  const fetchMock = vi.fn(async () =>
    new Response(typeof body === "string" ? body : JSON.stringify(body), { status, statusText: "Bad" }),
  );
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

describe("errorMessage", () => {
  it("is the API's message when the body has one", () => {
    expect(errorMessage(404, { status: "error", message: "Job not found." })).toBe("Job not found.");
  });
  it("names the HTTP status otherwise", () => {
    expect(errorMessage(502, null, "Bad Gateway")).toBe("Request failed (HTTP 502 Bad Gateway).");
    expect(errorMessage(0, null)).toBe("The server cannot be reached.");
    expect(errorMessage(413, { detail: "x" })).toBe("The file is too large.");
  });
});

describe("request", () => {
  it("throws the API's message on an error envelope", async () => {
    stubFetch(400, { status: "error", message: "videoSubject is required." });
    await expect(postJson("/api/generate", {})).rejects.toThrow("videoSubject is required.");
  });

  it("throws on status error even with HTTP 200", async () => {
    stubFetch(200, { status: "error", message: "Ollama is unreachable." });
    await expect(getJson("/api/models")).rejects.toBeInstanceOf(ApiError);
  });

  it("throws a readable message when the body is not JSON", async () => {
    stubFetch(502, "<html>bad gateway</html>");
    await expect(getJson("/api/jobs")).rejects.toThrow("Request failed (HTTP 502 Bad).");
  });

  it("sends JSON and the API key", async () => {
    vi.stubGlobal("localStorage", { getItem: () => "s3cret" });
    const fetchMock = stubFetch(200, { status: "success", jobId: "j1" });
    await postJson("/api/generate", { videoSubject: "x" });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/generate");
    expect(init.method).toBe("POST");
    expect(init.body).toBe('{"videoSubject":"x"}');
    expect(init.headers).toMatchObject({ "Content-Type": "application/json", "X-API-Key": "s3cret" });
  });
});

describe("api key", () => {
  it("is sent only when set", () => {
    expect(authHeaders("")).toEqual({});
    expect(authHeaders("k")).toEqual({ "X-API-Key": "k" });
    expect(loadApiKey({ getItem: () => null })).toBe("");
  });

  it("tells who listens when it is saved, until they stop", () => {
    const stored = new Map<string, string>();
    const storage = {
      getItem: (name: string) => stored.get(name) ?? null,
      setItem: (name: string, value: string) => void stored.set(name, value),
      removeItem: (name: string) => void stored.delete(name),
    } as unknown as Storage;
    const heard: string[] = [];
    const stop = onApiKeyChange(() => heard.push(loadApiKey(storage)));
    saveApiKey(" k1 ", storage);
    saveApiKey("", storage);
    stop();
    saveApiKey("k2", storage);
    expect(heard).toEqual(["k1", ""]);
    expect(loadApiKey(storage)).toBe("k2");
  });
});

describe("describeError", () => {
  it("turns any thrown value into a sentence", () => {
    expect(describeError(new ApiError("Job not found.", 404))).toBe("Job not found.");
    expect(describeError(new TypeError("Failed to fetch"))).toBe("The server cannot be reached.");
    expect(describeError("weird")).toBe("Something went wrong.");
  });
});
