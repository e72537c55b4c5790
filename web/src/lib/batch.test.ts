import { describe, expect, it } from "vitest";
import { BatchFileError, csvRows, locate, parseBatchCsv, sharedOptions, subjectsToEntries } from "./batch";
import { DEFAULT_FORM } from "./form";

describe("csvRows", () => {
  it("reads quoted cells with commas, doubled quotes and line breaks, and CRLF ends", () => {
    const rows = csvRows('a,b\r\n"x, y","say ""hi""\nthere"\r\nlast,\n');
    expect(rows).toEqual([
      { cells: ["a", "b"], line: 1 },
      { cells: ["x, y", 'say "hi"\nthere'], line: 2 },
      { cells: ["last", ""], line: 4 },
    ]);
  });

  it("refuses a quote that is never closed", () => {
    expect(() => csvRows('a\n"open')).toThrow(new BatchFileError('line 2: a quoted cell is never closed'));
  });
});

describe("parseBatchCsv", () => {
  it("skips blank lines before the header and knows a row by the line it starts on", () => {
    expect(parseBatchCsv('\n\nsubject,script\nA,"One.\n\nTwo."\nB,Three.\n')).toEqual({
      entries: [{ videoSubject: "A", script: "One.\n\nTwo." }, { videoSubject: "B", script: "Three." }],
      lines: [4, 7],
    });
  });

  it("maps friendly and snake_case columns to the API's names and leaves empty cells out", () => {
    const file = parseBatchCsv("\uFEFFSubject,target_seconds,footageSource\nOctopuses,30,\n\nWhales,,generated\n");
    expect(file.entries).toEqual([
      { videoSubject: "Octopuses", targetSeconds: "30" },
      { videoSubject: "Whales", footageSource: "generated" },
    ]);
    expect(file.lines).toEqual([2, 4]);
  });

  it.each([
    ["", "the file is empty: it needs a header row, then one row per video"],
    ["subject,script\n", "the file has a header but no videos"],
    ["subject,\nA,B\n", "line 1: a column has no name"],
    ["subject\nA,B\n", "line 2: more cells than columns"],
    ["subject,videoSubject\nA,B\n", "line 1: two columns name videoSubject"],
  ])("names what is wrong with %j", (text, message) => {
    expect(() => parseBatchCsv(text)).toThrow(new BatchFileError(message));
  });
});

describe("a batch from the page", () => {
  it("takes one subject per non-empty line", () => {
    expect(subjectsToEntries("Octopuses\n\n  Whales \n")).toEqual({
      entries: [{ videoSubject: "Octopuses" }, { videoSubject: "Whales" }],
      lines: [1, 3],
    });
  });

  it("shares the Create page's choices but no subject, script, publishing or queue settings", () => {
    const options = sharedOptions({
      ...DEFAULT_FORM, subject: "Mine", script: "Mine too.", quality: "draft", priority: 7,
      maxAttempts: "2", publish: true,
    });
    expect(options.quality).toBe("draft");
    for (const field of ["videoSubject", "script", "priority", "maxAttempts", "publish", "automateYoutubeUpload"])
      expect(options).not.toHaveProperty(field);
  });

  it("leads a message about an entry with the line it came from", () => {
    const file = { entries: [{}, {}], lines: [2, 5] };
    expect(locate("jobs[1].aspect: bad", file, "ocean.csv")).toBe("ocean.csv, line 5: jobs[1].aspect: bad");
    expect(locate("The queue is full.", file, "ocean.csv")).toBe("The queue is full.");
  });
});
