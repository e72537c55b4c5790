import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./client";
import { getModels } from "./models";

afterEach(() => vi.unstubAllGlobals());

const stubFetch = (status: number, body: unknown) =>
  vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify(body), { status })));

describe("getModels", () => {
  it("returns an error answer that still names the default model", async () => {
    const answer = { status: "error", message: "Ollama is unreachable.", models: [], default: "llama3.1:8b" };
    stubFetch(503, answer);
    expect(await getModels()).toEqual(answer);
  });

  it("throws when the answer is not the models list", async () => {
    stubFetch(500, { status: "error", message: "Internal server error." });
    await expect(getModels()).rejects.toThrow(ApiError);
  });
});
