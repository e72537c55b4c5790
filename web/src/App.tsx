/** The shell: navigation, the API key, and the page for the current hash route. */
import { useEffect, useState } from "preact/hooks";
import { loadApiKey, saveApiKey } from "./api/client";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { useRoute } from "./hooks/useRoute";
import type { Route } from "./lib/query";
import { AccountsPage } from "./pages/Accounts";
import { BatchPage } from "./pages/Batch";
import { BatchesPage } from "./pages/Batches";
import { CreatePage } from "./pages/Create";
import { HistoryPage } from "./pages/History";
import { JobPage } from "./pages/Job";
import { MusicPage } from "./pages/Music";
import { StatusPage } from "./pages/Status";

const NAV: { href: string; label: string; pages: Route["page"][] }[] = [
  { href: "#/", label: "Create", pages: ["create"] },
  { href: "#/history", label: "History", pages: ["history", "job"] },
  { href: "#/batches", label: "Batches", pages: ["batches", "batch"] },
  { href: "#/music", label: "Music", pages: ["music"] },
  { href: "#/accounts", label: "Accounts", pages: ["accounts"] },
  { href: "#/status", label: "Status", pages: ["status"] },
];

function ApiKeySettings() {
  const [key, setKey] = useState(loadApiKey());
  const [saved, setSaved] = useState(false);
  return (
    <details class="api-key">
      <summary>API key{loadApiKey() ? " ✓" : ""}</summary>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          saveApiKey(key);
          setSaved(true);
        }}
      >
        <label for="api-key">Key (only if the server sets one)</label>
        <div class="row">
          <input
            id="api-key"
            type="password"
            autocomplete="off"
            value={key}
            onInput={(event) => {
              setKey(event.currentTarget.value);
              setSaved(false);
            }}
          />
          <button type="submit">Save</button>
        </div>
        {saved && <p class="muted">{key ? "Saved in this browser." : "Removed."}</p>}
      </form>
    </details>
  );
}

function Page(props: { route: Route }) {
  const { route } = props;
  switch (route.page) {
    case "create":
      return <CreatePage />;
    case "job":
      return <JobPage id={route.id} />;
    case "history":
      return <HistoryPage filter={route.filter} />;
    case "batches":
      return <BatchesPage />;
    case "batch":
      return <BatchPage id={route.id} />;
    case "music":
      return <MusicPage />;
    case "status":
      return <StatusPage />;
    case "accounts":
      return <AccountsPage connected={route.connected} error={route.error} />;
    default:
      return (
        <section class="panel">
          <h1>Page not found</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <a href="#/">Create a video</a>.
          </p>
        </section>
      );
  }
}

export function App() {
  const route = useRoute();
  useEffect(() => {
    // Move focus to the new page's heading, so keyboard and screen reader users follow along.
    document.querySelector<HTMLElement>("main h1")?.focus({ preventScroll: true });
  }, [route.page, route.page === "job" || route.page === "batch" ? route.id : ""]);
  return (
    <>
      <a class="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/">
          MoneyPrinter
        </a>
        <nav aria-label="Main">
          {NAV.map((item) => (
            <a key={item.href} href={item.href} aria-current={item.pages.includes(route.page) ? "page" : undefined}>
              {item.label}
            </a>
          ))}
        </nav>
        <ApiKeySettings />
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary resetKey={location.hash}>
          <Page route={route} />
        </ErrorBoundary>
      </main>
    </>
  );
}
