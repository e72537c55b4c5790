import { describe, expect, it } from "vitest";
import { historyHash, jobsQuery, pageCount, parseFilter, parseRoute, rangeLabel } from "./query";

describe("parseRoute", () => {
  it("maps hashes to pages", () => {
    expect(parseRoute("")).toEqual({ page: "create" });
    expect(parseRoute("#/")).toEqual({ page: "create" });
    expect(parseRoute("#/jobs/abc-1")).toEqual({ page: "job", id: "abc-1" });
    expect(parseRoute("#/batches")).toEqual({ page: "batches" });
    expect(parseRoute("#/batches/b%201")).toEqual({ page: "batch", id: "b 1" });
    expect(parseRoute("#/music")).toEqual({ page: "music" });
    expect(parseRoute("#/status")).toEqual({ page: "status" });
    expect(parseRoute("#/history?status=failed&q=bees&page=3")).toEqual({
      page: "history",
      filter: { status: "failed", q: "bees", page: 3 },
    });
    expect(parseRoute("#/accounts")).toEqual({ page: "accounts", connected: "", error: "" });
    expect(parseRoute("#/nope/x")).toEqual({ page: "missing", path: "/nope/x" });
  });

  it("reads where the server sends the browser back from Google's consent page", () => {
    expect(parseRoute("#/accounts?connected=3")).toEqual({ page: "accounts", connected: "3", error: "" });
    // urlencode's form: `+` for a space, the rest percent-encoded.
    expect(parseRoute("#/accounts?error=Google+did+not+connect+the+account+%28access_denied%29.")).toEqual({
      page: "accounts",
      connected: "",
      error: "Google did not connect the account (access_denied).",
    });
  });

  it("keeps a segment that is not valid percent-encoding as written", () => {
    expect(() => parseRoute("#/jobs/%E0")).not.toThrow();
    expect(parseRoute("#/jobs/%E0")).toEqual({ page: "job", id: "%E0" });
    expect(parseRoute("#/jobs/a%20b")).toEqual({ page: "job", id: "a b" });
    expect(parseRoute("#/nope/%")).toEqual({ page: "missing", path: "/nope/%" });
  });

  it("ignores a bad status or page in the filter", () => {
    expect(parseFilter("status=sleeping&page=-2")).toEqual({ status: "", q: "", page: 1 });
    expect(parseFilter("status=constructor").status).toBe("");
  });
});

describe("history queries", () => {
  it("builds the API query with limit and offset", () => {
    expect(jobsQuery({ status: "", q: " ", page: 1 })).toEqual({ limit: 20, offset: 0 });
    expect(jobsQuery({ status: "completed", q: " Bees & wasps ", page: 3 }, 10)).toEqual({
      status: "completed",
      q: "Bees & wasps",
      limit: 10,
      offset: 20,
    });
  });

  it("round-trips the filter through the hash", () => {
    const filter = { status: "queued", q: "a b", page: 2 } as const;
    const hash = historyHash(filter);
    expect(hash).toBe("#/history?status=queued&q=a+b&page=2");
    expect(parseRoute(hash)).toEqual({ page: "history", filter });
    expect(historyHash({ status: "", q: "", page: 1 })).toBe("#/history");
  });

  it("counts pages and labels the range", () => {
    expect(pageCount(0)).toBe(1);
    expect(pageCount(40)).toBe(2);
    expect(pageCount(41)).toBe(3);
    expect(rangeLabel(57, 20, 20)).toBe("21–40 of 57");
    expect(rangeLabel(0, 0, 0)).toBe("No jobs");
  });
});
