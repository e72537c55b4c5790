/** Accounts: the YouTube channels videos are published to. Connecting one goes through Google's
 * consent page, from where the server sends the browser back here with `?connected=<id>` or
 * `?error=<message>`; disconnecting revokes the account's token and forgets it. */
import { useEffect, useState } from "preact/hooks";
import { describeError } from "../api/client";
import type { Account } from "../api/types";
import { connectAccount, disconnectAccount, listAccounts } from "../api/youtube";
import { Loading, Notice } from "../components/Notice";
import { useApi } from "../hooks/useApi";
import { formatTime } from "../lib/format";
import { connectNotice } from "../lib/youtube";

export function AccountsPage(props: { connected: string; error: string }) {
  const accounts = useApi("accounts", listAccounts);
  const [message, setMessage] = useState<{ kind: "error" | "success"; text: string } | null>(null);
  const [connecting, setConnecting] = useState(false);
  const [confirming, setConfirming] = useState<number | null>(null);

  // A new outcome in the address (another sign-in) replaces what the page said last.
  useEffect(() => setMessage(null), [props.connected, props.error]);

  // Back from Google's page without signing in: the browser may show this page as it was left.
  useEffect(() => {
    const onShow = () => setConnecting(false);
    addEventListener("pageshow", onShow);
    return () => removeEventListener("pageshow", onShow);
  }, []);

  const connect = async () => {
    setMessage(null);
    setConnecting(true);
    try {
      const answer = await connectAccount();
      location.assign(answer.authorizationUrl);
    } catch (caught) {
      setMessage({ kind: "error", text: describeError(caught) });
      setConnecting(false);
    }
  };

  const disconnect = async (account: Account) => {
    setConfirming(null);
    try {
      const answer = await disconnectAccount(account.id);
      setMessage({ kind: "success", text: answer.message });
    } catch (caught) {
      setMessage({ kind: "error", text: describeError(caught) });
    }
    await accounts.reload();
  };

  const notice = message ?? connectNotice(props, accounts.data?.accounts ?? null);
  return (
    <section class="panel">
      <h1 tabIndex={-1}>Accounts</h1>
      <p class="muted">
        The YouTube channels videos are published to. Connecting one opens Google's consent page, then comes back
        here.
      </p>
      <div class="actions">
        <button type="button" class="primary" onClick={connect} disabled={connecting}>
          {connecting ? "Opening Google…" : "Connect YouTube"}
        </button>
      </div>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      {accounts.error && <Notice kind="error">{accounts.error}</Notice>}
      {!accounts.data && accounts.loading && <Loading what="accounts" />}
      {accounts.data && accounts.data.accounts.length === 0 && <p class="muted">No YouTube account connected yet.</p>}
      {accounts.data && accounts.data.accounts.length > 0 && (
        <ul class="accounts" data-testid="accounts">
          {accounts.data.accounts.map((account) => (
            <li key={account.id} class="account">
              <div class="account-head">
                <strong class="account-title">{account.channelTitle}</strong>
                <code class="muted">{account.channelId}</code>
                <span class={`badge account-${account.status}`}>{account.status}</span>
                <span class="muted">since {formatTime(account.createdAt)}</span>
              </div>
              {account.status === "disconnected" && account.statusMessage && (
                <p class="problem">{account.statusMessage}</p>
              )}
              <div class="account-controls">
                {confirming === account.id ? (
                  <span class="row">
                    <button type="button" class="danger" onClick={() => disconnect(account)}>
                      Disconnect {account.channelTitle}
                    </button>
                    <button type="button" onClick={() => setConfirming(null)}>Keep</button>
                  </span>
                ) : (
                  <button type="button" onClick={() => setConfirming(account.id)}
                    aria-label={`Disconnect ${account.channelTitle}`}>
                    Disconnect
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
