/** YouTube: the connected accounts, connecting one through Google's consent page, and publishing
 * a finished video (a publish job of its own). */
import { deleteJson, getJson, postJson } from "./client";
import { jobPath } from "./jobs";
import type {
  AccountList,
  ConnectResponse,
  MessageResponse,
  PublishBody,
  PublishResponse,
} from "./types";

export const ACCOUNTS_PATH = "/api/accounts";

/** An account's address: DELETE disconnects it. */
export const accountUrl = (id: number) => `${ACCOUNTS_PATH}/${encodeURIComponent(String(id))}`;

export const listAccounts = () => getJson<AccountList>(ACCOUNTS_PATH);

/** Revokes the account's token at Google and forgets it; the message says how that went. */
export const disconnectAccount = (id: number) => deleteJson<MessageResponse>(accountUrl(id));

/** The address of Google's consent page; the browser goes there, and Google sends it back to the
 * server, which goes on to the Accounts page. */
export const connectAccount = () => postJson<ConnectResponse>(`${ACCOUNTS_PATH}/connect`);

/** Queue a publish job for a completed video job; the answer names the publish job. */
export const publishJob = (jobId: string, options: PublishBody = {}) =>
  postJson<PublishResponse>(`${jobPath(jobId)}/publish`, options);
