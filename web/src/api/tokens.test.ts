import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RETRY_AFTER_MS, scopeToken, signedUrl, withToken } from "./tokens";

let key = "";
let keys = 0;
let clock = 1_000_000;
const now = () => clock;

function stubTokens(answer: (scope: string, call: number) => Response) {
  let calls = 0;
  const fetchMock = vi.fn(async (_url: string, init: RequestInit) => {
    const { scope } = JSON.parse(String(init.body)) as { scope: string };
    return answer(scope, ++calls);
  });
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

const issued = (scope: string, call: number, expiresInSeconds = 600) =>
  new Response(JSON.stringify({ status: "success", token: `t${call}`, scope, expiresInSeconds }));

beforeEach(() => {
  key = `k${++keys}`; // a key of its own: nothing an earlier test left behind applies
  clock += 10 * 86_400_000;
  vi.stubGlobal("localStorage", { getItem: () => key || null });
});
afterEach(() => vi.unstubAllGlobals());

describe("scopeToken", () => {
  it("asks once for concurrent callers and keeps the token until half its life is gone", async () => {
    const fetchMock = stubTokens((scope, call) => issued(scope, call));
    const [a, b] = await Promise.all([scopeToken("/api/songs", now), scopeToken("/api/songs", now)]);
    expect(a.token).toBe("t1");
    expect(b).toBe(a);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/tokens");
    expect(init.headers).toMatchObject({ "X-API-Key": key });

    clock += 299_000;
    expect((await scopeToken("/api/songs", now)).token).toBe("t1");
    clock += 1_000; // 300 s of 600: renewed
    expect((await scopeToken("/api/songs", now)).token).toBe("t2");
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it("keeps one token per scope and drops them all when the key changes", async () => {
    const fetchMock = stubTokens((scope, call) => issued(scope, call));
    expect((await scopeToken("/api/jobs/a", now)).token).toBe("t1");
    expect((await scopeToken("/api/jobs/b", now)).token).toBe("t2");
    key = `${key}-new`;
    expect((await scopeToken("/api/jobs/a", now)).token).toBe("t3");
    expect(fetchMock).toHaveBeenCalledTimes(3);
  });

  it("asks nothing without a key, and signs nothing", async () => {
    key = "";
    const fetchMock = stubTokens((scope, call) => issued(scope, call));
    expect(await scopeToken("/api/songs", now)).toEqual({ token: null, renewAt: Infinity });
    expect(await signedUrl("/api/songs/a.mp3", "/api/songs")).toBe("/api/songs/a.mp3");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("remembers that a server without a key needs no token", async () => {
    const fetchMock = stubTokens((scope) =>
      new Response(JSON.stringify({ status: "success", token: null, scope, expiresInSeconds: null })),
    );
    expect(await scopeToken("/api/songs", now)).toEqual({ token: null, renewAt: Infinity });
    await scopeToken("/api/songs", now);
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("goes without a token after a refusal, and tries again later", async () => {
    stubTokens(() => new Response(JSON.stringify({ status: "error", message: "Invalid API key." }), { status: 401 }));
    expect(await scopeToken("/api/songs", now)).toEqual({ token: null, renewAt: clock + RETRY_AFTER_MS });
  });
});

describe("withToken", () => {
  it("adds the token as a query parameter", () => {
    expect(withToken("/api/jobs/j/video", "1.a.b-c_")).toBe("/api/jobs/j/video?token=1.a.b-c_");
    expect(withToken("/api/jobs/j/stream?after=3", "x")).toBe("/api/jobs/j/stream?after=3&token=x");
    expect(withToken("/api/jobs/j/video", null)).toBe("/api/jobs/j/video");
  });
});
