/** YouTube on the pages: the privacy choices, telling a publish job from a video job, and where
 * an upload stands. */
import type { Account, Job, Privacy, Publication, PublishBody } from "../api/types";
import { percent } from "./format";
import { TERMINAL_STATES } from "./states";

// A record rather than a list, so a value the API adds or drops fails the type check here.
const PRIVACY_LABELS = {
  private: "Private",
  unlisted: "Unlisted",
  public: "Public",
} satisfies Record<Privacy, string>;

/** The privacy choices, the server's default (private) first. */
export const PRIVACIES = Object.keys(PRIVACY_LABELS) as Privacy[];
export const DEFAULT_PRIVACY: Privacy = "private";

export const privacyLabel = (privacy: Privacy) => PRIVACY_LABELS[privacy];

export const isPrivacy = (value: unknown): value is Privacy =>
  typeof value === "string" && (PRIVACIES as string[]).includes(value);

/** What a publish asks for: the privacy, and the account when one is chosen (`account`, an id;
 * "" leaves it to the server, which takes the only connected one). */
export function publishOptions(privacy: Privacy, account = ""): PublishBody {
  const options: PublishBody = { privacy };
  const id = Number.parseInt(account, 10);
  if (Number.isInteger(id) && id > 0) options.accountId = id;
  return options;
}

/** A publish job answers with its own publication; a video job with those of its uploads. */
export const isPublishJob = (job: Pick<Job, "id">, publications: readonly Publication[]) =>
  publications.length > 0 && publications[0].jobId === job.id;

/** How much of the video YouTube holds, 0..1. */
export function uploadFraction(publication: Pick<Publication, "bytesAcknowledged" | "bytesTotal">): number {
  if (publication.bytesTotal <= 0) return 0;
  return Math.min(Math.max(publication.bytesAcknowledged / publication.bytesTotal, 0), 1);
}

/** A publication without its video yet: "Uploading 40%", or why it stopped when its publish job
 * (in state `state`, when known) ended without one. */
export function uploadLabel(publication: Publication, state?: string): string {
  if (state === "failed") return "Publishing failed";
  if (state === "cancelled") return "Publishing cancelled";
  return `Uploading ${percent(uploadFraction(publication))}`;
}

/** Whether the upload may still move on: no video yet, and its publish job not finished (as far
 * as the page knows). */
export const isPending = (publication: Publication, state?: string) =>
  !publication.url && !(state !== undefined && TERMINAL_STATES.has(state));

/** The notice for the Accounts page's `?connected=<id>` / `?error=<message>` (where the server
 * sends the browser back after Google's consent page), or null without either; a connected one
 * waits for the list of `accounts`, which has its channel's title. */
export function connectNotice(
  outcome: { connected: string; error: string },
  accounts: readonly Account[] | null,
): { kind: "success" | "error"; text: string } | null {
  if (outcome.error) return { kind: "error", text: outcome.error };
  if (!outcome.connected || accounts === null) return null; // the title comes with the list
  const account = accounts.find((item) => String(item.id) === outcome.connected);
  return { kind: "success", text: account ? `Connected ${account.channelTitle}.` : "Account connected." };
}
