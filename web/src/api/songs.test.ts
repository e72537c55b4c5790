import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./client";
import { uploadSong } from "./songs";

afterEach(() => vi.unstubAllGlobals());

const stubFetch = (status: number, body: unknown) => {
  const fetch = vi.fn(async (_path: string, _init: RequestInit) => new Response(JSON.stringify(body), { status }));
  vi.stubGlobal("fetch", fetch);
  return fetch;
};

const notMp3 = "not an MP3 file (an MP3 starts with an ID3 tag or an MPEG audio frame)";

describe("uploadSong", () => {
  it("sends the file as the multipart field `songs` and returns where it was stored", async () => {
    const fetch = stubFetch(200, { status: "success", message: "Uploaded 1 song(s).", songs: ["tone-0a1b2c3d.mp3"], skipped: [] });

    const outcome = await uploadSong(new File(["ID3"], "Tone.mp3", { type: "audio/mpeg" }));

    expect(outcome).toEqual({ stored: ["tone-0a1b2c3d.mp3"], skipped: [] });
    const sent = fetch.mock.calls[0][1].body as FormData;
    expect((sent.get("songs") as File).name).toBe("Tone.mp3");
  });

  it("returns a file the server skipped, with its reason, rather than throwing", async () => {
    stubFetch(400, {
      status: "error",
      message: `No MP3 files found. cover.jpg: ${notMp3}.`,
      skipped: [{ name: "cover.jpg", reason: notMp3 }],
    });

    const outcome = await uploadSong(new File(["\xff\xd8"], "cover.jpg", { type: "image/jpeg" }));

    expect(outcome).toEqual({ stored: [], skipped: [{ name: "cover.jpg", reason: notMp3 }] });
  });

  it("throws any other failure with the API's message", async () => {
    stubFetch(401, { status: "error", message: "Invalid API key." });
    await expect(uploadSong(new File(["x"], "a.mp3"))).rejects.toEqual(new ApiError("Invalid API key.", 401));
    stubFetch(400, { status: "error", message: "songs: no files were uploaded." });
    await expect(uploadSong(new File(["x"], "a.mp3"))).rejects.toThrow("songs: no files were uploaded.");
  });
});
