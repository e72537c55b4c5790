/** The create form: its state, the POST /api/generate body made from it, and what is remembered. */
import type { GenerateBody, Privacy } from "../api/types";
import { DEFAULT_PRIVACY, PRIVACIES, publishOptions } from "./youtube";

export type Aspect = NonNullable<GenerateBody["aspect"]>;
export type Quality = NonNullable<GenerateBody["quality"]>;
export type FootageSource = NonNullable<GenerateBody["footageSource"]>;

/** Every value of an API enum, in the order given: the record must name each value the generated
 * type has, and no other, so a value added to or removed from the API fails the type check. */
function everyValue<T extends string>(values: Record<T, true>): readonly T[] {
  return Object.keys(values) as T[];
}

export const ASPECTS = everyValue<Aspect>({ "9:16": true, "16:9": true, "1:1": true });
export const QUALITIES = everyValue<Quality>({ draft: true, standard: true, high: true });
export const FOOTAGE_SOURCES = everyValue<FootageSource>({
  auto: true,
  pexels: true,
  pixabay: true,
  local: true,
  generated: true,
});
// subtitlesPosition is "horizontal,vertical" text in the API, so these have no generated type.
export const HORIZONTAL = ["left", "center", "right"] as const;
export const VERTICAL = ["top", "center", "bottom"] as const;

export const FORM_STORAGE = "moneyprinter.createForm";
export const RANDOM_SONG = "";

export interface FormState {
  subject: string;
  script: string;
  model: string; // "" = the server's default
  voice: string; // "" = the server's default
  paragraphs: number;
  language: string;
  aspect: Aspect;
  quality: Quality;
  footageSource: FootageSource;
  horizontal: (typeof HORIZONTAL)[number];
  vertical: (typeof VERTICAL)[number];
  color: string; // "#RRGGBB"
  fontSize: number;
  wordHighlight: boolean;
  useMusic: boolean;
  song: string; // RANDOM_SONG = a random uploaded song
  musicVolume: number; // 0..1
  customPrompt: string;
  maxAttempts: string; // "" = the server's default
  priority: number;
  publish: boolean; // to YouTube, once the video is done
  privacy: Privacy;
  account: string; // a YouTube account's id; "" = the only connected one
  review: boolean; // stop before the render, with a storyboard to edit
}

/** The server's own defaults (app/domain.py VideoSpec), so an untouched form asks for nothing
 * unusual. */
export const DEFAULT_FORM: FormState = {
  subject: "",
  script: "",
  model: "",
  voice: "",
  paragraphs: 1,
  language: "en",
  aspect: "9:16",
  quality: "standard",
  footageSource: "auto",
  horizontal: "center",
  vertical: "bottom",
  color: "#FFFF00",
  fontSize: 80,
  wordHighlight: false,
  useMusic: false,
  song: RANDOM_SONG,
  musicVolume: 0.1,
  customPrompt: "",
  maxAttempts: "",
  priority: 0,
  publish: false,
  privacy: DEFAULT_PRIVACY,
  account: "",
  review: false,
};

/** What the next visit starts from: every choice, not the content (subject and script are this
 * video's, not a preference), nor publishing: each video goes to YouTube only when asked to. */
const NOT_REMEMBERED: ReadonlySet<keyof FormState> = new Set([
  "subject",
  "script",
  "publish",
  "account",
]);
export const REMEMBERED_FIELDS = (Object.keys(DEFAULT_FORM) as (keyof FormState)[]).filter(
  (field) => !NOT_REMEMBERED.has(field),
);

const clamp = (value: number, low: number, high: number) => Math.min(Math.max(value, low), high);

/** The POST /api/generate body. Optional fields left at "server default" are omitted rather than
 * sent empty; publishing, when asked for, with the privacy chosen. */
export function toPayload(form: FormState): GenerateBody {
  const payload: GenerateBody = {
    videoSubject: form.subject.trim(),
    paragraphNumber: clamp(Math.round(form.paragraphs), 1, 10),
    language: form.language.trim() || "en",
    aspect: form.aspect,
    quality: form.quality,
    footageSource: form.footageSource,
    subtitlesPosition: `${form.horizontal},${form.vertical}`,
    color: form.color.toUpperCase(),
    fontSize: clamp(Math.round(form.fontSize), 20, 200),
    wordHighlight: form.wordHighlight,
    useMusic: form.useMusic,
    musicVolume: clamp(form.musicVolume, 0, 1),
    priority: clamp(Math.round(form.priority), -100, 100),
  };
  if (form.script.trim()) payload.script = form.script.trim();
  if (form.model) payload.aiModel = form.model;
  if (form.voice) payload.voice = form.voice;
  if (form.useMusic && form.song !== RANDOM_SONG) payload.song = form.song;
  if (form.customPrompt.trim()) payload.customPrompt = form.customPrompt.trim();
  if (form.review) payload.review = true;
  if (form.maxAttempts.trim()) payload.maxAttempts = clamp(Number(form.maxAttempts), 1, 10);
  if (form.publish) {
    payload.automateYoutubeUpload = true;
    payload.publish = publishOptions(form.privacy, form.account);
  }
  return payload;
}

/** The remembered part of the form, to store as JSON. */
export function rememberedChoices(form: FormState): Partial<FormState> {
  const choices: Partial<FormState> = {};
  for (const field of REMEMBERED_FIELDS) (choices as Record<string, unknown>)[field] = form[field];
  return choices;
}

/** The form a visit starts with: the defaults, overlaid with stored choices that still fit
 * (same type as the default, allowed value for the enumerations). */
export function restoreForm(stored: string | null): FormState {
  const form = { ...DEFAULT_FORM };
  if (!stored) return form;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    return form;
  }
  if (!parsed || typeof parsed !== "object") return form;
  const allowed: Partial<Record<keyof FormState, readonly unknown[]>> = {
    aspect: ASPECTS,
    quality: QUALITIES,
    footageSource: FOOTAGE_SOURCES,
    horizontal: HORIZONTAL,
    vertical: VERTICAL,
    privacy: PRIVACIES,
  };
  for (const field of REMEMBERED_FIELDS) {
    const value = (parsed as Record<string, unknown>)[field];
    if (typeof value !== typeof DEFAULT_FORM[field]) continue;
    if (allowed[field] && !allowed[field]!.includes(value)) continue;
    (form as Record<string, unknown>)[field] = value;
  }
  return form;
}

/** Problems to show before sending, keyed by field; the server checks everything again. */
export function validateForm(form: FormState): Partial<Record<keyof FormState, string>> {
  const problems: Partial<Record<keyof FormState, string>> = {};
  if (!form.subject.trim()) problems.subject = "Enter a subject.";
  if (!/^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$/.test(form.language.trim()))
    problems.language = "Use a language code such as en, de or pt-BR.";
  if (!/^#[0-9A-Fa-f]{6}$/.test(form.color)) problems.color = "Pick a colour.";
  return problems;
}
