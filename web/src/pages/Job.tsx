/** Follow one job: a bar per stage from its events (stream or polling), the log, cancel and
 * retry, and once done the video, thumbnail, metadata and downloads. Everything comes from the
 * API, so a reload or a second tab shows the same. What the browser loads by address carries a
 * URL token of the job when the server has a key (hooks/useToken). */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { authHeaders, describeError } from "../api/client";
import { cancelJob, getJob, jobPath, listArtifacts, retryJob, videoUrl } from "../api/jobs";
import type { Artifact, Job, JobEvent } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { Loading, Notice } from "../components/Notice";
import { useApiKeyVersion } from "../hooks/useApi";
import { useScopeToken, useSignedMedia } from "../hooks/useToken";
import { followJob, type FollowMode } from "../lib/follow";
import { formatBytes, formatTime, percent } from "../lib/format";
import { computeProgress, lastEventId, mergeEvents } from "../lib/progress";
import { TERMINAL_STATES } from "../lib/states";

interface Metadata {
  title?: string;
  description?: string;
  tags?: string[];
}

export function JobPage(props: { id: string }) {
  const { id } = props;
  const [job, setJob] = useState<Job | null>(null);
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionMessage, setActionMessage] = useState<{ kind: "error" | "success"; text: string } | null>(null);
  const [mode, setMode] = useState<FollowMode | "ended">("stream");
  const [followCount, setFollowCount] = useState(0); // bumped to follow again after a retry
  const eventsRef = useRef<JobEvent[]>([]);
  // The job shown now: an answer about an earlier one (navigated away meanwhile) is dropped.
  const currentId = useRef(id);
  currentId.current = id;
  const keyVersion = useApiKeyVersion();

  const refreshJob = async () => {
    const asked = id;
    try {
      const found = await getJob(asked);
      if (currentId.current !== asked) return;
      setJob(found);
      setLoadError(null);
    } catch (caught) {
      if (currentId.current !== asked) return;
      setLoadError(describeError(caught));
    }
  };

  useEffect(() => {
    setJob(null);
    setEvents([]);
    eventsRef.current = [];
    setActionMessage(null);
    void refreshJob();
  }, [id]);

  // A new API key: read the job again and follow it afresh (the key may have been refused).
  useEffect(() => {
    if (keyVersion === 0) return;
    void refreshJob();
    setFollowCount((count) => count + 1);
  }, [keyVersion]);

  useEffect(() => {
    const stop = followJob(
      id,
      {
        onEvents(incoming) {
          eventsRef.current = mergeEvents(eventsRef.current, incoming);
          setEvents(eventsRef.current);
          if (incoming.some((event) => event.type === "state" || event.type === "retry")) void refreshJob();
        },
        onEnd() {
          setMode("ended");
          void refreshJob();
        },
        onMode: setMode,
      },
      { after: lastEventId(eventsRef.current) },
    );
    return stop;
  }, [id, followCount]);

  const progress = useMemo(
    () => computeProgress(events, job ?? { state: "queued", stage: null, progress: 0 }),
    [events, job],
  );

  if (loadError && !job) {
    return (
      <section class="panel">
        <h1 tabIndex={-1}>Job</h1>
        <Notice kind="error">{loadError}</Notice>
        <p><a href="#/history">All jobs</a></p>
      </section>
    );
  }
  if (!job) return <Loading what="the job" />;

  // The events run ahead of the job row between two reads; the row decides once it is final, and
  // also when the events end final but the row does not: a retry the stream has not shown yet.
  const state =
    TERMINAL_STATES.has(job.state) || TERMINAL_STATES.has(progress.state) ? job.state : progress.state;
  const act = async (action: "cancel" | "retry") => {
    setActionMessage(null);
    try {
      const answer = await (action === "cancel" ? cancelJob : retryJob)(id);
      setActionMessage({ kind: "success", text: answer.message });
      if (action === "retry") setFollowCount((count) => count + 1);
    } catch (caught) {
      setActionMessage({ kind: "error", text: describeError(caught) });
    }
    await refreshJob();
  };

  return (
    <div class="job">
      <section class="panel">
        <p class="crumbs"><a href="#/history">History</a> / job</p>
        <h1 tabIndex={-1}>{job.videoSubject || "Untitled"}</h1>
        <p class="job-meta">
          <span class={`badge state-${state}`} data-testid="job-state">{state}</span>
          {job.cancelRequested && !TERMINAL_STATES.has(job.state) && <span class="badge">cancelling…</span>}
          <span class="muted">attempt {job.attemptCount} of {job.maxAttempts}</span>
          <span class="muted">queued {formatTime(job.createdAt)}</span>
          <code class="muted job-id">{job.id}</code>
        </p>
        <div class="overall">
          <label for="overall-progress">Overall</label>
          <progress id="overall-progress" max={1} value={progress.overall} data-testid="overall-progress" />
          <span data-testid="overall-percent">{percent(progress.overall)}</span>
        </div>
        <ol class="stages" aria-label="Pipeline stages">
          {progress.stages.map((stage) => (
            <li key={stage.stage} class={`stage stage-${stage.status}`} data-stage={stage.stage}>
              <span class="stage-name">{stage.stage}</span>
              <progress max={1} value={stage.fraction} aria-label={`${stage.stage} ${percent(stage.fraction)}`} />
              <span class="stage-percent">{stage.status === "failed" ? "failed" : stage.status === "stopped" ? "stopped" : percent(stage.fraction)}</span>
            </li>
          ))}
        </ol>
        {job.errorMessage && <Notice kind="error">{job.errorMessage}</Notice>}
        {actionMessage && <Notice kind={actionMessage.kind}>{actionMessage.text}</Notice>}
        {loadError && <Notice kind="error">{loadError}</Notice>}
        <div class="actions">
          <button type="button" onClick={() => act("cancel")} disabled={TERMINAL_STATES.has(job.state) || job.cancelRequested}>
            Cancel
          </button>
          <button type="button" onClick={() => act("retry")} disabled={job.state !== "failed" && job.state !== "cancelled"}>
            Retry
          </button>
          <span class="muted follow-mode">
            {mode === "ended" ? "Finished." : mode === "polling" ? "Live updates by polling." : "Live."}
          </span>
        </div>
      </section>

      {job.state === "completed" && <Result job={job} />}

      <section class="panel">
        <h2>Log</h2>
        <EventLog events={events} />
      </section>
    </div>
  );
}

function EventLog(props: { events: JobEvent[] }) {
  const list = useRef<HTMLOListElement>(null);
  // Follow new lines unless the reader scrolled up. Our own scrolling fires scroll events too,
  // late, when more lines may have arrived: only a move up from where we put it counts.
  const follow = useRef(true);
  const placedAt = useRef(0);
  useEffect(() => {
    const element = list.current;
    if (!element || !follow.current) return;
    element.scrollTop = element.scrollHeight;
    placedAt.current = element.scrollTop;
  }, [props.events.length]);
  const onScroll = () => {
    const element = list.current;
    if (!element) return;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
    if (atBottom) follow.current = true;
    else if (element.scrollTop < placedAt.current - 4) follow.current = false;
  };
  if (props.events.length === 0) return <p class="muted">No events yet.</p>;
  return (
    <ol class="log" ref={list} data-testid="event-log" role="log" tabIndex={0}
      aria-label="Job log" onScroll={onScroll}>
      {props.events.map((event) => (
        <li key={event.id} class={`log-${event.level} log-type-${event.type}`}>
          <time dateTime={event.createdAt}>{new Date(event.createdAt).toLocaleTimeString()}</time>
          <span class="log-type">{event.type}</span>
          <span class="log-message">{event.message}</span>
        </li>
      ))}
    </ol>
  );
}

function Result(props: { job: Job }) {
  const { job } = props;
  const [artifacts, setArtifacts] = useState<Artifact[] | null>(null);
  const [metadata, setMetadata] = useState<Metadata | null>(null);
  const [error, setError] = useState<string | null>(null);
  const keyVersion = useApiKeyVersion();
  const files = useScopeToken(jobPath(job.id));
  const video = useSignedMedia(videoUrl(job.id), jobPath(job.id));

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const list = await listArtifacts(job.id);
        if (!live) return;
        setArtifacts(list);
        const file = list.find((artifact) => artifact.kind === "metadata" || artifact.mime === "application/json");
        if (file) {
          const response = await fetch(file.url, { headers: authHeaders() });
          if (response.ok && live) setMetadata((await response.json()) as Metadata);
        }
      } catch (caught) {
        if (live) setError(describeError(caught));
      }
    })();
    return () => {
      live = false;
    };
  }, [job.id, job.completedAt, keyVersion]);

  const thumbnail = artifacts?.find((artifact) => artifact.kind === "thumbnail");
  const tags = metadata?.tags ?? [];
  return (
    <section class="panel result">
      <h2>Video</h2>
      <div class="result-grid">
        {video ? (
          <video class="player" controls playsInline preload="metadata" {...video}
            poster={thumbnail && files.ready ? files.sign(thumbnail.url) : undefined} data-testid="video" />
        ) : (
          <div class="player" aria-busy="true" />
        )}
        <div class="result-info">
          {error && <Notice kind="error">{error}</Notice>}
          {metadata && (
            <dl class="metadata">
              <MetaItem label="Title" value={metadata.title ?? ""} />
              <MetaItem label="Description" value={metadata.description ?? ""} />
              <MetaItem label="Tags" value={tags.join(", ")} />
            </dl>
          )}
          {thumbnail && files.ready && (
            <figure class="thumbnail">
              <img src={files.sign(thumbnail.url)} alt="Thumbnail" loading="lazy" />
              <figcaption class="muted">Thumbnail</figcaption>
            </figure>
          )}
        </div>
      </div>
      <h3>Downloads</h3>
      {artifacts === null && !error && <Loading what="the files" />}
      {artifacts && (
        <ul class="downloads">
          {artifacts.map((artifact) => (
            <li key={artifact.id}>
              <a href={files.sign(artifact.url)} download={artifact.path.split("/").pop()}>
                {artifact.kind}: {artifact.path.split("/").pop()}
              </a>
              <span class="muted"> {formatBytes(artifact.bytes)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function MetaItem(props: { label: string; value: string }) {
  if (!props.value) return null;
  return (
    <div class="meta-item">
      <dt>
        {props.label} <CopyButton text={props.value} label={props.label.toLowerCase()} />
      </dt>
      <dd>{props.value}</dd>
    </div>
  );
}
