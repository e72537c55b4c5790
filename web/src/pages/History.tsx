/** History: every job, newest first, filtered by state and subject, a page at a time. The
 * filter lives in the hash, so a reload or a shared link shows the same page. */
import { useEffect, useRef, useState } from "preact/hooks";
import { listJobs } from "../api/jobs";
import { Loading, Notice } from "../components/Notice";
import { useApi } from "../hooks/useApi";
import { formatTime, percent } from "../lib/format";
import { historyHash, jobHash, jobsQuery, pageCount, rangeLabel, type HistoryFilter } from "../lib/query";
import { JOB_STATES, TERMINAL_STATES, isJobState } from "../lib/states";

const SEARCH_DELAY_MS = 300;

export function HistoryPage(props: { filter: HistoryFilter }) {
  const { filter } = props;
  const query = jobsQuery(filter);
  const { data, error, loading, reload } = useApi(JSON.stringify(query), () => listJobs(query));
  const [search, setSearch] = useState(filter.q);
  useEffect(() => setSearch(filter.q), [filter.q]);

  // Typing searches after a pause, from the first page, keeping the filter as it is by then (the
  // state may have changed during the pause).
  const latestFilter = useRef(filter);
  latestFilter.current = filter;
  useEffect(() => {
    if (search.trim() === filter.q.trim()) return;
    const timer = setTimeout(() => {
      const now = latestFilter.current;
      if (search.trim() !== now.q.trim()) go({ ...now, q: search, page: 1 });
    }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [search]);

  // While some job on the page is still going, refresh now and then.
  const active = data?.jobs.some((job) => !TERMINAL_STATES.has(job.state));
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void reload(), 3000);
    return () => clearInterval(timer);
  }, [active, reload]);

  const go = (next: HistoryFilter) => {
    location.hash = historyHash(next);
  };
  const pages = data ? pageCount(data.total, data.limit) : 1;

  return (
    <section class="panel">
      <h1 tabIndex={-1}>History</h1>
      <form class="filters" role="search" onSubmit={(event) => {
        event.preventDefault();
        go({ ...filter, q: search, page: 1 });
      }}>
        <div class="field">
          <label for="history-q">Subject contains</label>
          <input id="history-q" type="search" value={search} onInput={(event) => setSearch(event.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="history-status">State</label>
          <select id="history-status" value={filter.status}
            onChange={(event) => {
              const status = event.currentTarget.value;
              go({ ...filter, status: isJobState(status) ? status : "", page: 1 });
            }}>
            <option value="">All</option>
            {JOB_STATES.map((state) => <option key={state} value={state}>{state}</option>)}
          </select>
        </div>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {!data && loading && <Loading what="jobs" />}
      {data && (
        <>
          {data.jobs.length === 0 ? (
            <p class="muted">{filter.q || filter.status ? "No job matches." : "No jobs yet. "}
              {!filter.q && !filter.status && <a href="#/">Create one</a>}</p>
          ) : (
            <div class="table-wrap">
              <table class="jobs">
                <thead>
                  <tr><th scope="col">Subject</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Queued</th></tr>
                </thead>
                <tbody>
                  {data.jobs.map((job) => (
                    <tr key={job.id}>
                      <td><a href={jobHash(job.id)}>{job.videoSubject || "Untitled"}</a>
                        {job.errorMessage && <div class="muted small-text">{job.errorMessage}</div>}</td>
                      <td><span class={`badge state-${job.state}`}>{job.state}</span></td>
                      <td>{job.state === "completed" ? "100%" : job.stage ? `${job.stage} · ${percent(job.progress)}` : job.state === "running" ? percent(job.progress) : "–"}</td>
                      <td>{formatTime(job.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav class="pager" aria-label="Pages">
            <button type="button" disabled={filter.page <= 1} onClick={() => go({ ...filter, page: filter.page - 1 })}>
              ← Newer
            </button>
            <span>Page {Math.min(filter.page, pages)} of {pages} · {rangeLabel(data.total, data.offset, data.jobs.length)}</span>
            <button type="button" disabled={filter.page >= pages} onClick={() => go({ ...filter, page: filter.page + 1 })}>
              Older →
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
