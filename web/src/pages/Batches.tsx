/** Batches: queue many videos at once (a CSV file, or a list of subjects), sharing the Create
 * page's choices; and the batches queued so far, newest first. */
import { useEffect, useState } from "preact/hooks";
import { createBatch, listBatches } from "../api/batches";
import { describeError, safeStorage } from "../api/client";
import { Loading, Notice } from "../components/Notice";
import { useApi } from "../hooks/useApi";
import {
  BatchFileError,
  locate,
  parseBatchCsv,
  sharedOptions,
  subjectsToEntries,
  type BatchFile,
} from "../lib/batch";
import { FORM_STORAGE, restoreForm } from "../lib/form";
import { formatTime, percent } from "../lib/format";
import { batchHash } from "../lib/query";

type Source = "csv" | "list";

export function BatchesPage() {
  const batches = useApi("batches", () => listBatches());
  const [source, setSource] = useState<Source>("csv");
  const [title, setTitle] = useState("");
  const [subjects, setSubjects] = useState("");
  const [file, setFile] = useState<{ name: string; batch: BatchFile } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  // The Create page's choices, read once: this page does not change them.
  const [choices] = useState(() => restoreForm(safeStorage()?.getItem(FORM_STORAGE) ?? null));

  const active = batches.data?.batches.some((batch) => batch.state === "running");
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void batches.reload(), 3000);
    return () => clearInterval(timer);
  }, [active, batches.reload]);

  const readFile = async (chosen: File | undefined) => {
    setProblem(null);
    setFile(null);
    if (!chosen) return;
    try {
      setFile({ name: chosen.name, batch: parseBatchCsv(await chosen.text()) });
    } catch (caught) {
      setProblem(caught instanceof BatchFileError ? `${chosen.name}: ${caught.message}` : describeError(caught));
    }
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const entries = source === "csv" ? file?.batch : subjectsToEntries(subjects);
    const where = source === "csv" ? file?.name ?? "the file" : "the list";
    if (!entries || entries.entries.length === 0) {
      setProblem(source === "csv" ? "Choose a CSV file." : "Enter at least one subject.");
      return;
    }
    setSubmitting(true);
    try {
      const created = await createBatch({
        title: title.trim(),
        options: sharedOptions(choices),
        jobs: entries.entries,
      });
      location.hash = batchHash(created.batchId);
    } catch (caught) {
      setProblem(locate(describeError(caught), entries, where));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <>
      <section class="panel">
        <h1 tabIndex={-1}>Batches</h1>
        <form onSubmit={submit} aria-label="New batch">
          <div class="field">
            <label for="batch-title">Title</label>
            <input id="batch-title" value={title} maxLength={200} onInput={(event) => setTitle(event.currentTarget.value)} />
          </div>
          <fieldset class="field">
            <legend>Videos</legend>
            <label class="row">
              <input type="radio" name="batch-source" checked={source === "csv"} onChange={() => setSource("csv")} />
              A CSV file: a header row (subject, script, voice, aspect…), then one row per video
            </label>
            <label class="row">
              <input type="radio" name="batch-source" checked={source === "list"} onChange={() => setSource("list")} />
              A list of subjects, one per line (an LLM writes each script)
            </label>
          </fieldset>
          {source === "csv" ? (
            <div class="field">
              <label for="batch-file">CSV file</label>
              <input id="batch-file" type="file" accept=".csv,text/csv"
                onChange={(event) => void readFile(event.currentTarget.files?.[0])} />
              {file && <small class="muted" data-testid="batch-count">{file.batch.entries.length} video(s) in {file.name}</small>}
            </div>
          ) : (
            <div class="field">
              <label for="batch-subjects">Subjects</label>
              <textarea id="batch-subjects" rows={6} value={subjects} onInput={(event) => setSubjects(event.currentTarget.value)} />
            </div>
          )}
          <p class="muted small-text">
            Every video also gets your choices on the <a href="#/">Create</a> page ({choices.quality},{" "}
            {choices.aspect}, {choices.voice || "the default voice"}); a column of the file wins over them.
            Batches run after videos queued alone.
          </p>
          {problem && <Notice kind="error">{problem}</Notice>}
          <div class="actions">
            <button type="submit" disabled={submitting}>{submitting ? "Queuing…" : "Queue the batch"}</button>
          </div>
        </form>
      </section>
      <section class="panel">
        <h2>Queued batches</h2>
        {batches.error && <Notice kind="error">{batches.error}</Notice>}
        {!batches.data && batches.loading && <Loading what="batches" />}
        {batches.data && (batches.data.batches.length === 0 ? (
          <p class="muted">No batches yet.</p>
        ) : (
          <div class="table-wrap">
            <table class="jobs">
              <thead>
                <tr><th scope="col">Batch</th><th scope="col">State</th><th scope="col">Videos</th><th scope="col">Done</th><th scope="col">Queued</th></tr>
              </thead>
              <tbody>
                {batches.data.batches.map((batch) => (
                  <tr key={batch.id}>
                    <td><a href={batchHash(batch.id)}>{batch.title || "Untitled batch"}</a></td>
                    <td><span class={`badge state-${batch.state}`}>{batch.state}</span></td>
                    <td>{batch.total}</td>
                    <td>{percent(batch.progress)}</td>
                    <td>{formatTime(batch.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </section>
    </>
  );
}
