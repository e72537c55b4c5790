/** A storyboard being edited in the page: its scenes as the reviewer has them now, and the
 * PATCH that asks the server for the same. Pure, so the editing rules are tested without a
 * browser. */
import type { Storyboard, StoryboardEdit, StoryClip } from "../api/types";

export interface DraftScene {
  /** Names the scene in the page while it is edited (moved, saved): never sent. */
  key: string;
  text: string;
  clip: StoryClip | null; // null: a generated background
  candidates: StoryClip[];
  startS: number | null;
  endS: number | null;
}

let made = 0;
const newKey = () => `scene-${(made += 1)}`;

/** The server's scenes as a draft. `keys`: the names the page gave them before a save (the
 * saved list is the draft's order), so cards and what runs in them (a preview) stay put. */
export const draftOf = (board: Storyboard, keys: readonly string[] = []): DraftScene[] =>
  board.scenes.map((scene, index) => ({
    key: keys[index] ?? newKey(),
    text: scene.text,
    clip: scene.clip,
    candidates: scene.candidates,
    startS: scene.startS,
    endS: scene.endS,
  }));

/** The scene at `from` moved to `to` (both indices in the list). */
export function moveScene(scenes: DraftScene[], from: number, to: number): DraftScene[] {
  if (from === to || from < 0 || to < 0 || from >= scenes.length || to >= scenes.length) return scenes;
  const moved = [...scenes];
  const [scene] = moved.splice(from, 1);
  moved.splice(to, 0, scene);
  return moved;
}

export const removeScene = (scenes: DraftScene[], index: number): DraftScene[] =>
  scenes.length > 1 ? scenes.filter((_, at) => at !== index) : scenes;

export const setText = (scenes: DraftScene[], index: number, text: string): DraftScene[] =>
  scenes.map((scene, at) => (at === index ? { ...scene, text } : scene));

/** The scene named `key` shows `clip`; the one it showed joins its candidates, so a swap can be
 * undone. By key, not place: an upload may end after the scenes were moved. */
export function chooseClip(scenes: DraftScene[], key: string, clip: StoryClip | null): DraftScene[] {
  return scenes.map((scene) => {
    if (scene.key !== key) return scene;
    const others = scene.candidates.filter((candidate) => candidate.key !== clip?.key);
    const previous = scene.clip && scene.clip.key !== clip?.key ? [scene.clip] : [];
    return { ...scene, clip, candidates: [...previous, ...others] };
  });
}

/** The PATCH body: every scene with its text and clip spelt out, so order is never guessed, and
 * the version the draft was made from (an edit made elsewhere since is refused, not undone). */
export const toEdit = (
  scenes: DraftScene[],
  version: string,
  settings: StoryboardEdit = {},
): StoryboardEdit => ({
  ...settings,
  version,
  scenes: scenes.map((scene) => ({ text: scene.text.trim(), clip: scene.clip?.key ?? null })),
});

/** Whether the draft asks for anything the server's storyboard does not hold. */
export function changed(scenes: DraftScene[], board: Storyboard): boolean {
  if (scenes.length !== board.scenes.length) return true;
  return scenes.some((scene, index) => {
    const server = board.scenes[index];
    return scene.text.trim() !== server.text || (scene.clip?.key ?? null) !== (server.clip?.key ?? null);
  });
}

/** "0:04.2–0:09.8", or "not spoken yet" for a scene whose text changed. */
export function sceneTime(scene: Pick<DraftScene, "startS" | "endS">): string {
  if (scene.startS === null || scene.endS === null) return "not spoken yet";
  const clock = (seconds: number) => {
    const minutes = Math.floor(seconds / 60);
    return `${minutes}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
  };
  return `${clock(scene.startS)}–${clock(scene.endS)}`;
}
