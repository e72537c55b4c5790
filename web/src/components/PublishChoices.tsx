/** What a publish to YouTube asks for: the privacy, and the channel when more than one is
 * connected (with one, the server takes it; with none, the way to the Accounts page). */
import type { Privacy } from "../api/types";
import { listAccounts } from "../api/youtube";
import { useApi } from "../hooks/useApi";
import { PRIVACIES, isPrivacy, privacyLabel } from "../lib/youtube";
import { Notice } from "./Notice";

export function PublishChoices(props: {
  idPrefix: string;
  privacy: Privacy;
  onPrivacy: (privacy: Privacy) => void;
  account: string;
  onAccount: (account: string) => void;
}) {
  const accounts = useApi("accounts", listAccounts);
  const connected = accounts.data?.accounts.filter((account) => account.status === "connected") ?? [];
  return (
    <>
      <div class="cols">
        <div class="field">
          <label for={`${props.idPrefix}-privacy`}>Privacy</label>
          <select id={`${props.idPrefix}-privacy`} value={props.privacy}
            onChange={(event) => {
              const value = event.currentTarget.value;
              if (isPrivacy(value)) props.onPrivacy(value);
            }}>
            {PRIVACIES.map((privacy) => <option key={privacy} value={privacy}>{privacyLabel(privacy)}</option>)}
          </select>
        </div>
        {connected.length > 1 && (
          <div class="field">
            <label for={`${props.idPrefix}-account`}>Channel</label>
            <select id={`${props.idPrefix}-account`} value={props.account}
              onChange={(event) => props.onAccount(event.currentTarget.value)}>
              <option value="">Choose a channel…</option>
              {connected.map((account) => (
                <option key={account.id} value={String(account.id)}>{account.channelTitle}</option>
              ))}
            </select>
          </div>
        )}
      </div>
      {accounts.data && connected.length === 0 && (
        <Notice kind="warning">No YouTube account is connected: <a href="#/accounts">connect one</a> first.</Notice>
      )}
      {accounts.error && <Notice kind="error">YouTube accounts: {accounts.error}</Notice>}
    </>
  );
}
