import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./client";
import { connectAccount, disconnectAccount, listAccounts, publishJob } from "./youtube";

afterEach(() => vi.unstubAllGlobals());

function stubFetch(status: number, body: unknown) {
  const fetchMock = vi.fn(async (_path: string, _init: RequestInit) => new Response(JSON.stringify(body), { status }));
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

const account = {
  id: 3,
  channelId: "UC_test_channel",
  channelTitle: "Test Channel",
  status: "connected",
  statusMessage: null,
  createdAt: "2025-01-02T03:04:05Z",
  updatedAt: "2025-01-02T03:04:05Z",
};

describe("accounts", () => {
  it("lists them with the API key", async () => {
    vi.stubGlobal("localStorage", { getItem: () => "s3cret" });
    const fetchMock = stubFetch(200, { status: "success", accounts: [account] });
    expect((await listAccounts()).accounts).toEqual([account]);
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/accounts");
    expect(init.headers).toMatchObject({ "X-API-Key": "s3cret" });
  });

  it("disconnects one with DELETE and answers the server's message", async () => {
    const fetchMock = stubFetch(200, { status: "success", message: "Account disconnected; its token is revoked." });
    expect((await disconnectAccount(3)).message).toBe("Account disconnected; its token is revoked.");
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/accounts/3");
    expect(init.method).toBe("DELETE");
  });

  it("starts connecting with an empty POST and answers Google's address", async () => {
    const authorizationUrl = "https://accounts.google.com/o/oauth2/v2/auth?client_id=x";
    const fetchMock = stubFetch(200, { status: "success", authorizationUrl, expiresInSeconds: 600 });
    expect((await connectAccount()).authorizationUrl).toBe(authorizationUrl);
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/accounts/connect");
    expect(init.method).toBe("POST");
    expect(init.body).toBeUndefined();
  });

  it("throws the server's reason when it cannot connect accounts", async () => {
    const message = "Cannot connect accounts: no OAuth client.";
    stubFetch(400, { status: "error", message });
    await expect(connectAccount()).rejects.toEqual(new ApiError(message, 400));
  });
});

describe("publishJob", () => {
  it("posts the options to the job's publish path and answers the publish job", async () => {
    const fetchMock = stubFetch(200, { status: "success", message: "Publishing queued.", jobId: "p-1" });
    expect((await publishJob("a/b", { privacy: "unlisted", accountId: 3 })).jobId).toBe("p-1");
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/jobs/a%2Fb/publish");
    expect(init.method).toBe("POST");
    expect(JSON.parse(String(init.body))).toEqual({ privacy: "unlisted", accountId: 3 });
    expect(init.headers).toMatchObject({ "Content-Type": "application/json" });
  });

  it("throws the API's message when the job cannot be published", async () => {
    stubFetch(409, { status: "error", message: "Job is running; only a completed video job can be published." });
    await expect(publishJob("j1")).rejects.toThrow("only a completed video job can be published");
  });
});
