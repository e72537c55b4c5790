/** Create: the form that queues a video (POST /api/generate), remembering the last choices, and
 * publishing it to YouTube once done when asked to. */
import { useEffect, useState } from "preact/hooks";
import { describeError, safeStorage } from "../api/client";
import { generate } from "../api/jobs";
import { listSongs } from "../api/songs";
import { listVoices } from "../api/voices";
import { CaptionPreview } from "../components/CaptionPreview";
import { Notice } from "../components/Notice";
import { PublishChoices } from "../components/PublishChoices";
import { useApi } from "../hooks/useApi";
import { useModels } from "../hooks/useModels";
import { useVoiceSample } from "../hooks/useVoiceSample";
import {
  ASPECTS,
  FOOTAGE_SOURCES,
  FORM_STORAGE,
  HORIZONTAL,
  QUALITIES,
  RANDOM_SONG,
  VERTICAL,
  rememberedChoices,
  restoreForm,
  toPayload,
  validateForm,
  type FormState,
} from "../lib/form";
import { jobHash } from "../lib/query";

const QUALITY_HINTS: Record<string, string> = {
  draft: "half size, fastest",
  standard: "full HD",
  high: "full HD, finer, slower",
};
const LANGUAGES = ["en", "de", "fr", "es", "it", "pt", "pt-BR", "nl", "pl", "ru", "ja", "zh", "hi"];

export function CreatePage() {
  const [form, setForm] = useState<FormState>(() => restoreForm(safeStorage()?.getItem(FORM_STORAGE) ?? null));
  const [problems, setProblems] = useState<Partial<Record<keyof FormState, string>>>({});
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const models = useModels();
  const voices = useApi("voices", listVoices);
  const songs = useApi("songs", listSongs);
  const sample = useVoiceSample();

  useEffect(() => {
    safeStorage()?.setItem(FORM_STORAGE, JSON.stringify(rememberedChoices(form)));
  }, [form]);

  // A remembered song or voice that is gone now falls back to random / the default.
  useEffect(() => {
    if (songs.data && form.song !== RANDOM_SONG && !songs.data.songs.some((song) => song.name === form.song))
      setForm((current) => ({ ...current, song: RANDOM_SONG }));
  }, [songs.data]);
  useEffect(() => {
    if (voices.data && form.voice && !voices.data.voices.some((voice) => voice.id === form.voice))
      setForm((current) => ({ ...current, voice: "" }));
  }, [voices.data]);

  const set = <K extends keyof FormState>(field: K, value: FormState[K]) =>
    setForm((current) => ({ ...current, [field]: value }));
  const text = (field: keyof FormState) => (event: Event) =>
    set(field, (event.currentTarget as HTMLInputElement).value as never);
  const number = (field: keyof FormState) => (event: Event) => {
    const value = (event.currentTarget as HTMLInputElement).valueAsNumber;
    if (Number.isFinite(value)) set(field, value as never);
  };
  const check = (field: keyof FormState) => (event: Event) =>
    set(field, (event.currentTarget as HTMLInputElement).checked as never);

  const submit = async (event: Event) => {
    event.preventDefault();
    const found = validateForm(form);
    setProblems(found);
    setSubmitError(null);
    if (Object.keys(found).length) {
      document.getElementById(`field-${Object.keys(found)[0]}`)?.focus();
      return;
    }
    setSubmitting(true);
    try {
      const answer = await generate(toPayload(form));
      location.hash = jobHash(answer.jobId);
    } catch (caught) {
      setSubmitError(describeError(caught));
      setSubmitting(false);
    }
  };

  const modelAnswer = models.answer;
  const defaultVoice = voices.data?.default;
  return (
    <form class="create" onSubmit={submit} noValidate>
      <h1 tabIndex={-1}>Create a video</h1>
      <div class="create-grid">
        <div class="create-fields">
          <section class="panel">
            <h2>Content</h2>
            <Field id="subject" label="Subject" problem={problems.subject}>
              <input id="field-subject" value={form.subject} onInput={text("subject")} maxLength={500}
                placeholder="Why octopuses are smart" required aria-invalid={!!problems.subject} />
            </Field>
            <Field id="script" label="Own script (optional)" hint="Narrated as written; no AI model is needed.">
              <textarea id="field-script" rows={4} value={form.script} onInput={text("script")} maxLength={20000} />
            </Field>
            <div class="cols">
              <Field id="model" label="AI model">
                <select id="field-model" value={form.model} onChange={text("model")} disabled={!modelAnswer}>
                  <option value="">Server default{modelAnswer ? ` (${modelAnswer.default})` : ""}</option>
                  {modelAnswer?.status === "success" &&
                    modelAnswer.models.map((name) => <option key={name} value={name}>{name}</option>)}
                </select>
              </Field>
              <Field id="paragraphs" label="Paragraphs">
                <input id="field-paragraphs" type="number" min={1} max={10} value={form.paragraphs} onInput={number("paragraphs")} />
              </Field>
            </div>
            {modelAnswer?.status === "error" && (
              <Notice kind="warning">
                AI models unavailable: {modelAnswer.message ?? "the LLM cannot be reached"}. The default model
                ({modelAnswer.default}) will be asked; with your own script none is needed.
              </Notice>
            )}
            {models.error && <Notice kind="error">AI models: {models.error}</Notice>}
            <div class="cols">
              <Field id="voice" label="Voice">
                <div class="row">
                  <select id="field-voice" value={form.voice} onChange={text("voice")} disabled={!voices.data}>
                    <option value="">Default{defaultVoice ? ` (${defaultVoice})` : ""}</option>
                    {voices.data?.voices.map((voice) => (
                      <option key={voice.id} value={voice.id}>{voice.name} · {voice.engine}</option>
                    ))}
                  </select>
                  <button type="button" class="small" disabled={!(form.voice || defaultVoice)}
                    onClick={() => sample.play(form.voice || defaultVoice || "")}
                    aria-label={sample.playing ? "Stop the voice sample" : "Play a sample of the voice"}>
                    {sample.playing ? "■ Stop" : "▶ Sample"}
                  </button>
                </div>
              </Field>
              <Field id="language" label="Language" problem={problems.language}>
                <input id="field-language" list="languages" value={form.language} onInput={text("language")}
                  aria-invalid={!!problems.language} />
                <datalist id="languages">{LANGUAGES.map((code) => <option key={code} value={code} />)}</datalist>
              </Field>
            </div>
            {voices.error && <Notice kind="error">Voices: {voices.error}</Notice>}
            {sample.error && <Notice kind="error">{sample.error}</Notice>}
          </section>

          <section class="panel">
            <h2>Video</h2>
            <Choice legend="Aspect" name="aspect" options={ASPECTS} value={form.aspect} onChange={(value) => set("aspect", value)} />
            <Choice legend="Quality" name="quality" options={QUALITIES} value={form.quality}
              onChange={(value) => set("quality", value)} hints={QUALITY_HINTS} />
            <Field id="footageSource" label="Footage source">
              <select id="field-footageSource" value={form.footageSource} onChange={text("footageSource")}>
                {FOOTAGE_SOURCES.map((source) => <option key={source} value={source}>{source}</option>)}
              </select>
            </Field>
          </section>

          <section class="panel">
            <h2>Subtitles</h2>
            <div class="cols">
              <Field id="horizontal" label="Horizontal position">
                <select id="field-horizontal" value={form.horizontal} onChange={text("horizontal")}>
                  {HORIZONTAL.map((value) => <option key={value} value={value}>{value}</option>)}
                </select>
              </Field>
              <Field id="vertical" label="Vertical position">
                <select id="field-vertical" value={form.vertical} onChange={text("vertical")}>
                  {VERTICAL.map((value) => <option key={value} value={value}>{value}</option>)}
                </select>
              </Field>
            </div>
            <div class="cols">
              <Field id="color" label="Colour" problem={problems.color}>
                <div class="row">
                  <input id="field-color" type="color" value={form.color.toLowerCase()}
                    onInput={(event) => set("color", event.currentTarget.value.toUpperCase())} />
                  <code>{form.color}</code>
                </div>
              </Field>
              <Field id="fontSize" label={`Size (${form.fontSize})`}>
                <input id="field-fontSize" type="range" min={20} max={200} step={2} value={form.fontSize} onInput={number("fontSize")} />
              </Field>
            </div>
            <label class="check">
              <input type="checkbox" checked={form.wordHighlight} onChange={check("wordHighlight")} /> Highlight the spoken word
            </label>
          </section>

          <section class="panel">
            <h2>Music</h2>
            <label class="check">
              <input id="field-useMusic" type="checkbox" checked={form.useMusic} onChange={check("useMusic")} /> Add background music
            </label>
            <div class="cols">
              <Field id="song" label="Song">
                <select id="field-song" value={form.song} onChange={text("song")} disabled={!form.useMusic}>
                  <option value={RANDOM_SONG}>Random uploaded song</option>
                  {songs.data?.songs.map((song) => <option key={song.name} value={song.name}>{song.name}</option>)}
                </select>
              </Field>
              <Field id="musicVolume" label={`Volume (${Math.round(form.musicVolume * 100)}%)`}>
                <input id="field-musicVolume" type="range" min={0} max={1} step={0.05} value={form.musicVolume}
                  onInput={number("musicVolume")} disabled={!form.useMusic} />
              </Field>
            </div>
            {form.useMusic && songs.data?.songs.length === 0 && (
              <Notice kind="info">No songs uploaded yet: <a href="#/music">add some on the Music page</a>.</Notice>
            )}
            {songs.error && <Notice kind="error">Songs: {songs.error}</Notice>}
          </section>

          <section class="panel">
            <h2>YouTube</h2>
            <label class="check">
              <input id="field-publish" type="checkbox" checked={form.publish} onChange={check("publish")} /> Publish to YouTube when done
            </label>
            {form.publish && (
              <PublishChoices idPrefix="field" privacy={form.privacy} onPrivacy={(value) => set("privacy", value)}
                account={form.account} onAccount={(value) => set("account", value)} />
            )}
          </section>

          <details class="panel advanced">
            <summary>Advanced</summary>
            <Field id="customPrompt" label="Custom prompt" hint="Extra instructions for the AI script writer.">
              <textarea id="field-customPrompt" rows={3} value={form.customPrompt} onInput={text("customPrompt")} maxLength={4000} />
            </Field>
            <div class="cols">
              <Field id="maxAttempts" label="Max attempts" hint="Blank: the server's default.">
                <input id="field-maxAttempts" type="number" min={1} max={10} value={form.maxAttempts} onInput={text("maxAttempts")} />
              </Field>
              <Field id="priority" label="Priority" hint="Higher runs first (−100 to 100).">
                <input id="field-priority" type="number" min={-100} max={100} value={form.priority} onInput={number("priority")} />
              </Field>
            </div>
          </details>
        </div>

        <aside class="create-side">
          <div class="panel sticky">
            <CaptionPreview settings={form} />
            <label class="check">
              <input id="field-review" type="checkbox" checked={form.review} onChange={check("review")} /> Review before rendering
            </label>
            {submitError && <Notice kind="error">{submitError}</Notice>}
            <button type="submit" class="primary wide" disabled={submitting}>
              {submitting ? "Queuing…" : "Create video"}
            </button>
          </div>
        </aside>
      </div>
    </form>
  );
}

function Field(props: { id: string; label: string; hint?: string; problem?: string; children: preact.ComponentChildren }) {
  return (
    <div class="field">
      <label for={`field-${props.id}`}>{props.label}</label>
      {props.children}
      {props.hint && <small class="muted">{props.hint}</small>}
      {props.problem && <small class="problem" role="alert">{props.problem}</small>}
    </div>
  );
}

function Choice<T extends string>(props: {
  legend: string;
  name: string;
  options: readonly T[];
  value: T;
  onChange: (value: T) => void;
  hints?: Record<string, string>;
}) {
  return (
    <fieldset class="choice">
      <legend>{props.legend}</legend>
      {props.options.map((option) => (
        <label key={option} class="pill">
          <input type="radio" name={props.name} value={option} checked={props.value === option}
            onChange={() => props.onChange(option)} />
          <span>{option}{props.hints?.[option] && <small> · {props.hints[option]}</small>}</span>
        </label>
      ))}
    </fieldset>
  );
}
