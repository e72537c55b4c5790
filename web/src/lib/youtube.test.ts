import { describe, expect, it } from "vitest";
import type { Account, Publication } from "../api/types";
import {
  PRIVACIES,
  connectNotice,
  isPending,
  isPrivacy,
  isPublishJob,
  publishOptions,
  uploadFraction,
  uploadLabel,
} from "./youtube";

const publication = (change: Partial<Publication> = {}): Publication => ({
  jobId: "publish-1",
  videoJobId: "video-1",
  accountId: 3,
  videoId: null,
  url: null,
  bytesTotal: 1000,
  bytesAcknowledged: 0,
  thumbnailSet: false,
  publishedAt: null,
  ...change,
});

const account: Account = {
  id: 3,
  channelId: "UC_test_channel",
  channelTitle: "Test Channel",
  status: "connected",
  statusMessage: null,
  createdAt: "2025-01-02T03:04:05Z",
  updatedAt: "2025-01-02T03:04:05Z",
};

describe("privacy", () => {
  it("offers the server's default first", () => {
    expect(PRIVACIES).toEqual(["private", "unlisted", "public"]);
    expect(isPrivacy("unlisted")).toBe(true);
    expect(isPrivacy("secret")).toBe(false);
    expect(isPrivacy(undefined)).toBe(false);
  });

  it("asks for an account only when one is chosen", () => {
    expect(publishOptions("public")).toEqual({ privacy: "public" });
    expect(publishOptions("private", "")).toEqual({ privacy: "private" });
    expect(publishOptions("unlisted", "7")).toEqual({ privacy: "unlisted", accountId: 7 });
    expect(publishOptions("unlisted", "x")).toEqual({ privacy: "unlisted" });
  });
});

describe("publications", () => {
  it("tell a publish job, which answers with its own, from a video job", () => {
    expect(isPublishJob({ id: "publish-1" }, [publication()])).toBe(true);
    expect(isPublishJob({ id: "video-1" }, [publication()])).toBe(false);
    expect(isPublishJob({ id: "video-1" }, [])).toBe(false);
  });

  it("say how much of the upload YouTube holds", () => {
    expect(uploadFraction(publication({ bytesAcknowledged: 262144, bytesTotal: 1048576 }))).toBe(0.25);
    expect(uploadFraction(publication({ bytesTotal: 0 }))).toBe(0);
    expect(uploadFraction(publication({ bytesAcknowledged: 2000 }))).toBe(1);
    expect(uploadLabel(publication({ bytesAcknowledged: 400 }))).toBe("Uploading 40%");
    expect(uploadLabel(publication({ bytesAcknowledged: 400 }), "running")).toBe("Uploading 40%");
    expect(uploadLabel(publication(), "failed")).toBe("Publishing failed");
    expect(uploadLabel(publication(), "cancelled")).toBe("Publishing cancelled");
  });

  it("are pending until they have a video or their publish job ends", () => {
    expect(isPending(publication())).toBe(true);
    expect(isPending(publication(), "queued")).toBe(true);
    expect(isPending(publication(), "failed")).toBe(false);
    expect(isPending(publication({ url: "https://youtu.be/abc", videoId: "abc" }), "running")).toBe(false);
  });
});

describe("connectNotice", () => {
  it("names the channel once the list has it", () => {
    expect(connectNotice({ connected: "3", error: "" }, null)).toBeNull();
    expect(connectNotice({ connected: "3", error: "" }, [account])).toEqual({
      kind: "success",
      text: "Connected Test Channel.",
    });
    expect(connectNotice({ connected: "9", error: "" }, [account])).toEqual({
      kind: "success",
      text: "Account connected.",
    });
  });

  it("shows the server's error, and nothing without an outcome", () => {
    const error = "Google did not connect the account (access_denied).";
    expect(connectNotice({ connected: "", error }, [])).toEqual({ kind: "error", text: error });
    expect(connectNotice({ connected: "", error: "" }, [account])).toBeNull();
  });
});
