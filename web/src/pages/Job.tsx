/** Follow one job: a bar per stage from its events (stream or polling), the log, cancel and
 * retry, and once done the video, thumbnail, metadata and downloads; its uploads to YouTube, and
 * the button that publishes a finished video. A publish job's page shows its upload instead of
 * the stages and the video. Everything comes from the API, so a reload or a second tab shows the
 * same. What the browser loads by address carries a URL token of the job when the server has a
 * key (hooks/useToken). */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { authHeaders, describeError } from "../api/client";
import { cancelJob, getJob, getJobDetail, jobPath, listArtifacts, retryJob, videoUrl } from "../api/jobs";
import type { Artifact, Job, JobEvent, Privacy, Publication } from "../api/types";
import { reopenReview } from "../api/storyboard";
import { publishJob } from "../api/youtube";
import { CopyButton } from "../components/CopyButton";
import { Loading, Notice } from "../components/Notice";
import { PublishChoices } from "../components/PublishChoices";
import { StoryboardEditor } from "../components/StoryboardEditor";
import { useApiKeyVersion } from "../hooks/useApi";
import { useScopeToken, useSignedMedia } from "../hooks/useToken";
import { followJob, type FollowMode } from "../lib/follow";
import { formatBytes, formatTime, percent } from "../lib/format";
import { computeProgress, lastEventId, mergeEvents } from "../lib/progress";
import { jobHash } from "../lib/query";
import { TERMINAL_STATES } from "../lib/states";
import {
  DEFAULT_PRIVACY,
  isPending,
  isPublishJob,
  publishOptions,
  uploadFraction,
  uploadLabel,
} from "../lib/youtube";

/** How often the YouTube section reads an unfinished upload again. */
const UPLOAD_POLL_MS = 2000;

interface Metadata {
  title?: string;
  description?: string;
  tags?: string[];
}

/** The `qa` artifact: what the service checked in the finished video (worker/pipeline/qa.py). */
interface QaReport {
  passed: boolean;
  checks: { name: string; passed: boolean; measured: string; expected: string }[];
}

/** The `footage` artifact: each scene's clip, where it is from and who made it
 * (worker/pipeline/footage.py). */
interface FootageCredits {
  scenes: {
    scene: number;
    source: string;
    id?: string;
    description?: string;
    pageUrl?: string;
    author?: string;
    relevance?: number;
    upscaled?: boolean;
  }[];
}

export function JobPage(props: { id: string }) {
  const { id } = props;
  const [job, setJob] = useState<Job | null>(null);
  const [publications, setPublications] = useState<Publication[]>([]);
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
      const found = await getJobDetail(asked);
      if (currentId.current !== asked) return;
      setJob(found.job);
      setPublications(found.publications ?? []);
      setLoadError(null);
    } catch (caught) {
      if (currentId.current !== asked) return;
      setLoadError(describeError(caught));
    }
  };

  useEffect(() => {
    setJob(null);
    setPublications([]);
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
  // A publish job has one stage, its upload: the overall bar shows how much YouTube holds.
  const publishing = isPublishJob(job, publications);
  const overall = publishing && state !== "completed" ? uploadFraction(publications[0]) : progress.overall;
  const act = async (action: "cancel" | "retry" | "review") => {
    setActionMessage(null);
    try {
      const answer = await { cancel: cancelJob, retry: retryJob, review: reopenReview }[action](id);
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
        {publishing ? (
          <p class="crumbs">
            <a href="#/history">History</a> / <a href={jobHash(publications[0].videoJobId)}>video</a> / publish job
          </p>
        ) : (
          <p class="crumbs"><a href="#/history">History</a> / job</p>
        )}
        <h1 tabIndex={-1}>{publishing ? "YouTube upload" : job.videoSubject || "Untitled"}</h1>
        <p class="job-meta">
          <span class={`badge state-${state}`} data-testid="job-state">{state}</span>
          {job.cancelRequested && !TERMINAL_STATES.has(job.state) && <span class="badge">cancelling…</span>}
          <span class="muted">attempt {job.attemptCount} of {job.maxAttempts}</span>
          <span class="muted">queued {formatTime(job.createdAt)}</span>
          <code class="muted job-id">{job.id}</code>
        </p>
        <div class="overall">
          <label for="overall-progress">Overall</label>
          <progress id="overall-progress" max={1} value={overall} data-testid="overall-progress" />
          <span data-testid="overall-percent">{percent(overall)}</span>
        </div>
        {!publishing && (
          <ol class="stages" aria-label="Pipeline stages">
            {progress.stages.map((stage) => (
              <li key={stage.stage} class={`stage stage-${stage.status}`} data-stage={stage.stage}>
                <span class="stage-name">{stage.stage}</span>
                <progress max={1} value={stage.fraction} aria-label={`${stage.stage} ${percent(stage.fraction)}`} />
                <span class="stage-percent">{stage.status === "failed" ? "failed" : stage.status === "stopped" ? "stopped" : percent(stage.fraction)}</span>
              </li>
            ))}
          </ol>
        )}
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
          {job.payload.review === true && (job.state === "failed" || job.state === "cancelled") && (
            <button type="button" onClick={() => act("review")}>Edit the storyboard again</button>
          )}
          <span class="muted follow-mode">
            {mode !== "ended" ? (mode === "polling" ? "Live updates by polling." : "Live.")
              : job.state === "awaiting_review" ? "Waiting for your review." : "Finished."}
          </span>
        </div>
      </section>

      {job.state === "awaiting_review" && (
        <StoryboardEditor jobId={job.id} onRendered={() => {
          setActionMessage({ kind: "success", text: "Queued for its render." });
          setMode("stream");
          setFollowCount((count) => count + 1);
          void refreshJob();
        }} />
      )}

      {job.state === "completed" && !publishing && <Result job={job} />}

      {(publications.length > 0 || (job.state === "completed" && job.resultPath)) && (
        <YouTubeSection key={job.id} job={job} publications={publications} refresh={refreshJob} />
      )}

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
  const [qa, setQa] = useState<QaReport | null>(null);
  const [footage, setFootage] = useState<FootageCredits | null>(null);
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
        const [described, checked, credits] = await Promise.all(
          ["metadata", "qa", "footage"].map((kind) =>
            readJson(list.find((artifact) => artifact.kind === kind)),
          ),
        );
        if (!live) return;
        setMetadata(described as Metadata | null);
        setQa(checked as QaReport | null);
        setFootage(credits as FootageCredits | null);
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
      {qa && <Checks report={qa} />}
      {footage && footage.scenes.length > 0 && <Footage credits={footage} />}
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

async function readJson(artifact: Artifact | undefined): Promise<unknown> {
  if (!artifact) return null;
  const response = await fetch(artifact.url, { headers: authHeaders() });
  return response.ok ? await response.json() : null;
}

function Checks(props: { report: QaReport }) {
  const failed = props.report.checks.filter((check) => !check.passed);
  return (
    <section class="checks" data-testid="qa">
      <h3>Checks</h3>
      <p class={failed.length ? "checks-summary failed" : "checks-summary"}>
        {failed.length
          ? `${failed.length} of ${props.report.checks.length} checks failed: look before you publish.`
          : `All ${props.report.checks.length} checks passed.`}
      </p>
      <ul>
        {props.report.checks.map((check) => (
          <li key={check.name} class={check.passed ? "check-passed" : "check-failed"}>
            <span class="check-mark" aria-hidden="true">{check.passed ? "✓" : "✗"}</span>
            <span class="visually-hidden">{check.passed ? "passed" : "failed"}: </span>
            <strong>{check.name}</strong> {check.measured}
            <span class="muted"> (expected {check.expected})</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Footage(props: { credits: FootageCredits }) {
  return (
    <section class="footage" data-testid="footage">
      <h3>Footage</h3>
      <ol>
        {props.credits.scenes.map((scene) => (
          <li key={scene.scene}>
            {scene.source === "generated" ? (
              "a generated background"
            ) : (
              <>
                {scene.pageUrl && /^https?:\/\//i.test(scene.pageUrl) ? (
                  <a href={scene.pageUrl} target="_blank" rel="noopener noreferrer">
                    {scene.source} {scene.id}
                  </a>
                ) : (
                  `${scene.source} ${scene.id ?? ""}`
                )}
                {scene.description && <span> — {scene.description}</span>}
                {scene.author && <span> by {scene.author}</span>}
                {scene.relevance !== undefined && (
                  <span class="muted"> (fits {scene.relevance.toFixed(2)})</span>
                )}
                {scene.upscaled && <span class="muted"> upscaled</span>}
              </>
            )}
          </li>
        ))}
      </ol>
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

/** The job's uploads to YouTube (a video job's, or a publish job's own), and for a finished video
 * the form that publishes it. While an upload has no video yet the section reads the job again
 * every UPLOAD_POLL_MS, and on a video job's page asks each of those publish jobs how it stands
 * (one that failed or was cancelled will not get a video). */
function YouTubeSection(props: { job: Job; publications: Publication[]; refresh: () => Promise<void> }) {
  const { job, publications, refresh } = props;
  const [states, setStates] = useState<Record<string, string>>({});
  const [round, setRound] = useState(0);
  const stateOf = (publication: Publication) =>
    publication.jobId === job.id ? job.state : states[publication.jobId];
  const pending = publications.filter((publication) => isPending(publication, stateOf(publication)));
  const pendingIds = pending.map((publication) => publication.jobId).join(" ");

  useEffect(() => {
    if (!pendingIds) return;
    let live = true;
    const timer = setTimeout(async () => {
      const others = pendingIds.split(" ").filter((jobId) => jobId !== job.id);
      const found = await Promise.all(
        others.map((jobId) => getJob(jobId).then((other) => [jobId, other.state] as const, () => null)),
      );
      if (!live) return;
      setStates((known) => ({ ...known, ...Object.fromEntries(found.filter((entry) => entry !== null)) }));
      await refresh();
      if (live) setRound((count) => count + 1);
    }, round === 0 ? 0 : UPLOAD_POLL_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [pendingIds, round]);

  const own = isPublishJob(job, publications);
  return (
    <section class="panel">
      <h2>YouTube</h2>
      {publications.length === 0 && <p class="muted">Not published yet.</p>}
      {publications.length > 0 && (
        <ul class="publications" data-testid="publications">
          {publications.map((publication) => (
            <li key={publication.jobId}>
              {publication.url ? (
                <>
                  <a href={publication.url} target="_blank" rel="noopener">{publication.url}</a>
                  {publication.publishedAt && (
                    <span class="muted">published {formatTime(publication.publishedAt)}</span>
                  )}
                </>
              ) : (
                <>
                  <progress max={1} value={uploadFraction(publication)}
                    aria-label={`Uploaded ${percent(uploadFraction(publication))}`} />
                  {own ? (
                    <span>{uploadLabel(publication, stateOf(publication))}</span>
                  ) : (
                    <a href={jobHash(publication.jobId)}>{uploadLabel(publication, stateOf(publication))}</a>
                  )}
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {!own && job.state === "completed" && job.resultPath && <PublishForm jobId={job.id} />}
    </section>
  );
}

/** Publish a finished video: queues a publish job, then goes to its page. */
function PublishForm(props: { jobId: string }) {
  const [privacy, setPrivacy] = useState<Privacy>(DEFAULT_PRIVACY);
  const [account, setAccount] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setSending(true);
    try {
      const answer = await publishJob(props.jobId, publishOptions(privacy, account));
      location.hash = jobHash(answer.jobId);
    } catch (caught) {
      setError(describeError(caught));
      setSending(false);
    }
  };

  return (
    <form class="publish" onSubmit={submit}>
      <PublishChoices idPrefix="publish" privacy={privacy} onPrivacy={setPrivacy} account={account}
        onAccount={setAccount} />
      {error && <Notice kind="error">{error}</Notice>}
      <button type="submit" class="primary" disabled={sending}>
        {sending ? "Queuing…" : "Publish to YouTube"}
      </button>
    </form>
  );
}
