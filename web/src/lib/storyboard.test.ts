import { describe, expect, it } from "vitest";
import type { Storyboard, StoryClip } from "../api/types";
import { changed, chooseClip, draftOf, moveScene, removeScene, sceneTime, setText, toEdit } from "./storyboard";

const clip = (id: string): StoryClip => ({
  key: `Pexels:${id}`, source: "Pexels", id, description: "", durationS: 6, widthPx: 1080, heightPx: 1920,
  pageUrl: "", author: "", thumbnailUrl: "", previewUrl: "",
});

const BOARD: Storyboard = {
  status: "success", jobId: "j", version: "3", state: "awaiting_review", approved: false, clips: [clip("1"), clip("2"), clip("3")],
  settings: {},
  scenes: [
    { text: "One.", term: "a", startS: 0, endS: 1.5, clip: clip("1"), candidates: [clip("3")] },
    { text: "Two.", term: "b", startS: 1.5, endS: 3, clip: clip("2"), candidates: [] },
    { text: "Three.", term: "c", startS: 3, endS: 4.25, clip: null, candidates: [] },
  ],
};

describe("storyboard drafts", () => {
  it("sends every scene with its text and clip, in the new order", () => {
    const draft = moveScene(setText(draftOf(BOARD), 1, " Two, edited. "), 2, 0);
    expect(toEdit(draft, "3", { color: "#00FF00" })).toEqual({
      color: "#00FF00",
      version: "3",
      scenes: [
        { text: "Three.", clip: null },
        { text: "One.", clip: "Pexels:1" },
        { text: "Two, edited.", clip: "Pexels:2" },
      ],
    });
    expect(changed(draft, BOARD)).toBe(true);
    expect(changed(draftOf(BOARD), BOARD)).toBe(false);
  });

  it("keeps the clip a swap replaced among the candidates, wherever the scene moved", () => {
    const before = draftOf(BOARD);
    const draft = chooseClip(moveScene(before, 0, 2), before[0].key, clip("3"));
    expect(draft.map((scene) => scene.text)).toEqual(["Two.", "Three.", "One."]);
    expect(draft[2].clip?.key).toBe("Pexels:3");
    expect(draft[2].candidates.map((candidate) => candidate.key)).toEqual(["Pexels:1"]);
    expect(draft[0].clip?.key).toBe("Pexels:2");
  });

  it("keeps the page's names of the scenes across a save", () => {
    const draft = moveScene(draftOf(BOARD), 0, 1);
    const saved = draftOf(BOARD, draft.map((scene) => scene.key));
    expect(saved.map((scene) => scene.key)).toEqual(draft.map((scene) => scene.key));
  });

  it("never removes the last scene and ignores a move out of range", () => {
    const one = removeScene(removeScene(draftOf(BOARD), 0), 0);
    expect(one).toHaveLength(1);
    expect(removeScene(one, 0)).toBe(one);
    expect(moveScene(one, 0, 3)).toBe(one);
  });

  it("shows a scene's time in the voice, or that it waits to be spoken", () => {
    expect(sceneTime({ startS: 1.5, endS: 63.25 })).toBe("0:01.5–1:03.3");
    expect(sceneTime({ startS: null, endS: null })).toBe("not spoken yet");
  });
});
