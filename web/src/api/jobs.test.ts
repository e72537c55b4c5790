import { afterEach, describe, expect, it, vi } from "vitest";
import { getJob, getJobDetail, listJobs } from "./jobs";

afterEach(() => vi.unstubAllGlobals());

function stubFetch(body: unknown) {
  const fetchMock = vi.fn(async () => new Response(JSON.stringify(body), { status: 200 }));
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

const calledUrl = (fetchMock: ReturnType<typeof stubFetch>) =>
  (fetchMock.mock.calls[0] as unknown as [string])[0];

describe("listJobs", () => {
  it("sends the query's filters, encoded, and leaves unset ones out", async () => {
    const fetchMock = stubFetch({ status: "success", jobs: [], total: 0, limit: 10, offset: 20 });
    await listJobs({ status: "completed", q: "Bees & wasps", limit: 10, offset: 20 });
    expect(calledUrl(fetchMock)).toBe("/api/jobs?status=completed&q=Bees+%26+wasps&limit=10&offset=20");
  });

  it("asks for the plain list when nothing is set", async () => {
    const fetchMock = stubFetch({ status: "success", jobs: [], total: 0, limit: 20, offset: 0 });
    await listJobs({ status: null });
    expect(calledUrl(fetchMock)).toBe("/api/jobs");
  });
});

describe("getJob", () => {
  it("quotes the id in the path and answers the job itself", async () => {
    const fetchMock = stubFetch({ status: "success", job: { id: "a/b" } });
    expect(await getJob("a/b")).toEqual({ id: "a/b" });
    expect(calledUrl(fetchMock)).toBe("/api/jobs/a%2Fb");
  });
});

describe("getJobDetail", () => {
  it("answers the job with its publications", async () => {
    const publications = [{ jobId: "p1", videoJobId: "j1", url: "https://youtu.be/abc" }];
    stubFetch({ status: "success", job: { id: "j1" }, publications });
    expect(await getJobDetail("j1")).toMatchObject({ job: { id: "j1" }, publications });
  });
});
