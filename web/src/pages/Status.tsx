/** Status: the queue by state, the workers and their slots, and recent throughput
 * (GET /api/metrics), refreshed every few seconds. */
import { useEffect } from "preact/hooks";
import { getMetrics } from "../api/metrics";
import { Loading, Notice } from "../components/Notice";
import { useApi } from "../hooks/useApi";
import { formatSeconds, formatTime } from "../lib/format";
import { JOB_STATES } from "../lib/states";

const REFRESH_MS = 5000;

export function StatusPage() {
  const { data, error, reload } = useApi("metrics", getMetrics);
  useEffect(() => {
    const timer = setInterval(() => void reload(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);

  return (
    <div class="status-page">
      <section class="panel">
        <h1 tabIndex={-1}>Status</h1>
        {error && <Notice kind="error">{error}</Notice>}
        {!data && !error && <Loading what="metrics" />}
        {data && (
          <>
            <p class="muted">Updated {formatTime(data.collectedAt)}</p>
            <h2>Jobs by state</h2>
            <dl class="tiles" data-testid="job-counts">
              {JOB_STATES.map((state) => (
                <div key={state} class={`tile state-${state}`}>
                  <dt>{state}</dt>
                  <dd>{data.jobs[state]}</dd>
                </div>
              ))}
            </dl>
            <h2>Queue</h2>
            <dl class="tiles">
              <Tile label="Ready" value={data.queued.ready} />
              <Tile label="Waiting to retry" value={data.queued.scheduled} />
              <Tile label="Oldest ready" value={data.queued.ready ? formatSeconds(data.queued.oldestReadyAgeSeconds) : "–"} />
              <Tile label="Retries" value={data.retries} />
              <Tile label="Rescued leases" value={data.rescuedLeases} />
            </dl>
            <h2>Timings</h2>
            <dl class="tiles">
              <Tile label="Pickup, median" value={formatSeconds(data.pickupLatency.p50Seconds)} />
              <Tile label="Pickup, 95th pct" value={formatSeconds(data.pickupLatency.p95Seconds)} />
              <Tile label="Run time, median" value={formatSeconds(data.runTime.p50Seconds)} />
              <Tile label="Run time, 95th pct" value={formatSeconds(data.runTime.p95Seconds)} />
            </dl>
          </>
        )}
      </section>
      {data && (
        <>
          <section class="panel">
            <h2>Recent throughput</h2>
            <p class="muted">In the last {formatSeconds(data.recent.windowSeconds)}</p>
            <dl class="tiles" data-testid="recent">
              <Tile label="Completed" value={data.recent.completed} />
              <Tile label="Failed" value={data.recent.failed} />
              <Tile label="Cancelled" value={data.recent.cancelled} />
              <Tile label="Completed per hour" value={(data.recent.completed * 3600 / Math.max(data.recent.windowSeconds, 1)).toFixed(1)} />
            </dl>
          </section>
          <section class="panel">
            <h2>Workers</h2>
            <p>
              <strong data-testid="slots">{data.busySlots} of {data.totalSlots}</strong> slots busy
            </p>
            <meter min={0} max={Math.max(data.totalSlots, 1)} value={data.busySlots} aria-label="Busy slots" />
            {data.workers.length === 0 ? (
              <p class="muted">No live worker. Start one with <code>moneyprinter worker</code>.</p>
            ) : (
              <div class="table-wrap">
                <table>
                  <thead><tr><th scope="col">Worker</th><th scope="col">Busy / slots</th><th scope="col">Heartbeat</th></tr></thead>
                  <tbody>
                    {data.workers.map((worker) => (
                      <tr key={worker.id}>
                        <td><code>{worker.id}</code></td>
                        <td>{worker.busy} / {worker.slots}</td>
                        <td>{formatSeconds(worker.heartbeatAgeSeconds)} ago</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </div>
  );
}

function Tile(props: { label: string; value: string | number }) {
  return (
    <div class="tile">
      <dt>{props.label}</dt>
      <dd>{props.value}</dd>
    </div>
  );
}
