/** One batch: its progress, each video's state (linked to its job page), cancel and retry. */
import { useEffect, useState } from "preact/hooks";
import { cancelBatch, getBatch, retryBatch } from "../api/batches";
import { describeError } from "../api/client";
import { Loading, Notice } from "../components/Notice";
import { useApi } from "../hooks/useApi";
import { formatTime, percent } from "../lib/format";
import { jobHash } from "../lib/query";
import { JOB_STATES, TERMINAL_STATES } from "../lib/states";

const POLL_MS = 2000;

export function BatchPage(props: { id: string }) {
  const { data, error, loading, reload } = useApi(props.id, () => getBatch(props.id));
  const [message, setMessage] = useState<{ kind: "success" | "error"; text: string } | null>(null);
  const running = data?.batch.state === "running";
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => void reload(), POLL_MS);
    return () => clearInterval(timer);
  }, [running, reload]);

  if (!data) {
    return (
      <section class="panel">
        <p class="crumbs"><a href="#/batches">Batches</a> / batch</p>
        <h1 tabIndex={-1}>Batch</h1>
        {error ? <Notice kind="error">{error}</Notice> : loading && <Loading what="the batch" />}
      </section>
    );
  }
  const { batch, jobs } = data;
  const act = async (action: "cancel" | "retry") => {
    setMessage(null);
    try {
      const answer = await (action === "cancel" ? cancelBatch : retryBatch)(batch.id);
      setMessage({ kind: "success", text: answer.message });
    } catch (caught) {
      setMessage({ kind: "error", text: describeError(caught) });
    }
    await reload();
  };
  const retryable = jobs.some((job) => job.state === "failed" || job.state === "cancelled");

  return (
    <section class="panel">
      <p class="crumbs"><a href="#/batches">Batches</a> / batch</p>
      <h1 tabIndex={-1}>{batch.title || "Untitled batch"}</h1>
      <p class="job-meta">
        <span class={`badge state-${batch.state}`} data-testid="batch-state">{batch.state}</span>
        <span class="muted" data-testid="batch-counts">
          {JOB_STATES.filter((state) => batch.counts[state]).map((state) => `${batch.counts[state]} ${state}`).join(", ")}
        </span>
        <span class="muted">queued {formatTime(batch.createdAt)}</span>
      </p>
      <div class="overall">
        <label for="batch-progress">Overall</label>
        <progress id="batch-progress" max={1} value={batch.progress} />
        <span data-testid="batch-percent">{percent(batch.progress)}</span>
      </div>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {error && <Notice kind="error">{error}</Notice>}
      <div class="actions">
        <button type="button" onClick={() => act("cancel")} disabled={!running}>Cancel the batch</button>
        <button type="button" onClick={() => act("retry")} disabled={!retryable}>Retry failed and cancelled</button>
      </div>
      <div class="table-wrap">
        <table class="jobs">
          <thead>
            <tr><th scope="col">#</th><th scope="col">Subject</th><th scope="col">State</th><th scope="col">Progress</th></tr>
          </thead>
          <tbody>
            {jobs.map((job, index) => (
              <tr key={job.id} data-testid="batch-job">
                <td>{index + 1}</td>
                <td><a href={jobHash(job.id)}>{job.videoSubject || "Untitled"}</a>
                  {job.errorMessage && <div class="muted small-text">{job.errorMessage}</div>}</td>
                <td><span class={`badge state-${job.state}`}>{job.state}</span></td>
                <td>{job.state === "completed" ? "100%" : TERMINAL_STATES.has(job.state) ? "–" : job.stage ? `${job.stage} · ${percent(job.progress)}` : percent(job.progress)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
