/** A batch from the page: entries read from a CSV file or a list of subjects, and the options
 * every entry shares (the Create page's remembered choices). */
import type { GenerateBody } from "../api/types";
import { toPayload, type FormState } from "./form";

/** Friendlier column names; any other column is the API's own field name (or its snake_case). */
const COLUMN_ALIASES: Record<string, string> = {
  subject: "videoSubject",
  prompt: "customPrompt",
  paragraphs: "paragraphNumber",
};

/** Fields a batch sets for all its jobs, beside `jobs`, never per entry or in the options. */
const BATCH_ONLY = new Set(["priority", "maxAttempts"]);

export type Entry = Record<string, string>;

export interface BatchFile {
  entries: Entry[];
  lines: number[]; // the file's line of each entry, for messages
}

export class BatchFileError extends Error {}

/** RFC 4180 rows: quoted cells may hold commas, quotes (doubled) and line breaks. Each row with
 * the line it starts on. */
export function csvRows(text: string): { cells: string[]; line: number }[] {
  const rows: { cells: string[]; line: number }[] = [];
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  const endRow = () => {
    cells.push(cell);
    rows.push({ cells, line: rowLine });
    cells = [];
    cell = "";
    rowLine = line;
  };
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        cell += '"';
        index += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        if (char === "\n") line += 1;
        cell += char;
      }
    } else if (char === '"' && cell === "") {
      quoted = true;
    } else if (char === ",") {
      cells.push(cell);
      cell = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[index + 1] === "\n") index += 1;
      line += 1;
      endRow();
    } else {
      cell += char;
    }
  }
  if (quoted) throw new BatchFileError(`line ${rowLine}: a quoted cell is never closed`);
  if (cell !== "" || cells.length > 0) endRow();
  return rows;
}

function column(title: string): string {
  const name = title.trim().replace(/^\uFEFF/, "");
  const alias = COLUMN_ALIASES[name.toLowerCase()];
  if (alias) return alias;
  return name.replace(/_([a-zA-Z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** The entries of a CSV file with a header row: each column a field of a video, each row one
 * video; empty cells are left out (the shared options apply), blank rows skipped. */
export function parseBatchCsv(text: string): BatchFile {
  const nonBlank = csvRows(text).filter((row) => row.cells.some((cell) => cell.trim()));
  const [header, ...rows] = nonBlank;
  if (!header) throw new BatchFileError("the file is empty: it needs a header row, then one row per video");
  const columns = header.cells.map(column);
  if (columns.some((name) => !name)) throw new BatchFileError(`line ${header.line}: a column has no name`);
  const twice = columns.filter((name, index) => columns.indexOf(name) !== index).sort();
  if (twice.length > 0) throw new BatchFileError(`line ${header.line}: two columns name ${twice[0]}`);
  const entries: Entry[] = [];
  const lines: number[] = [];
  for (const row of rows) {
    if (row.cells.length > columns.length)
      throw new BatchFileError(`line ${row.line}: more cells than columns`);
    const entry: Entry = {};
    row.cells.forEach((cell, index) => {
      if (cell.trim()) entry[columns[index]] = cell.trim();
    });
    entries.push(entry);
    lines.push(row.line);
  }
  if (entries.length === 0) throw new BatchFileError("the file has a header but no videos");
  return { entries, lines };
}

/** One entry per non-empty line: its subject (an LLM writes each script). */
export function subjectsToEntries(text: string): BatchFile {
  const entries: Entry[] = [];
  const lines: number[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim()) {
      entries.push({ videoSubject: line.trim() });
      lines.push(index + 1);
    }
  });
  return { entries, lines };
}

/** What every entry shares: the Create page's choices, without a video's own subject and
 * script, nor publishing (a batch is published video by video), nor the queue's settings. */
export function sharedOptions(form: FormState): Partial<GenerateBody> {
  const { videoSubject: _subject, ...options } = toPayload({
    ...form,
    subject: "",
    script: "",
    publish: false,
  });
  for (const field of BATCH_ONLY) delete (options as Record<string, unknown>)[field];
  delete options.automateYoutubeUpload;
  return options;
}

/** A server message about `jobs[N]` led by where that entry came from. */
export function locate(message: string, file: BatchFile, source: string): string {
  const found = /^jobs\[(\d+)\]/.exec(message);
  const index = found ? Number(found[1]) : -1;
  if (index < 0 || index >= file.lines.length) return message;
  return `${source}, line ${file.lines[index]}: ${message}`;
}
