import { describe, expect, it } from "vitest";
import { DEFAULT_FORM, rememberedChoices, restoreForm, toPayload, validateForm } from "./form";

describe("toPayload", () => {
  it("sends the camelCase fields and leaves server defaults out", () => {
    const payload = toPayload({ ...DEFAULT_FORM, subject: "  Octopuses  " });
    expect(payload).toEqual({
      videoSubject: "Octopuses",
      paragraphNumber: 1,
      language: "en",
      aspect: "9:16",
      quality: "standard",
      footageSource: "auto",
      subtitlesPosition: "center,bottom",
      color: "#FFFF00",
      fontSize: 80,
      wordHighlight: false,
      useMusic: false,
      musicVolume: 0.1,
      priority: 0,
    });
  });

  it("includes the optional fields when chosen", () => {
    const payload = toPayload({
      ...DEFAULT_FORM,
      subject: "Bees",
      script: "Bees dance. ",
      model: "llama3.2",
      voice: "en_US-joe-medium",
      useMusic: true,
      song: "calm.mp3",
      customPrompt: "Be brief.",
      maxAttempts: "3",
      horizontal: "left",
      vertical: "top",
      color: "#ff8800",
    });
    expect(payload).toMatchObject({
      script: "Bees dance.",
      aiModel: "llama3.2",
      voice: "en_US-joe-medium",
      useMusic: true,
      song: "calm.mp3",
      customPrompt: "Be brief.",
      maxAttempts: 3,
      subtitlesPosition: "left,top",
      color: "#FF8800",
    });
  });

  it("asks for a random song by leaving `song` out, and none when music is off", () => {
    expect(toPayload({ ...DEFAULT_FORM, subject: "x", useMusic: true })).not.toHaveProperty("song");
    expect(toPayload({ ...DEFAULT_FORM, subject: "x", song: "calm.mp3" })).not.toHaveProperty("song");
  });

  it("asks to publish to YouTube with the privacy, and the account when one is chosen", () => {
    expect(toPayload({ ...DEFAULT_FORM, subject: "x", privacy: "public" })).not.toHaveProperty("publish");
    expect(toPayload({ ...DEFAULT_FORM, subject: "x", privacy: "public" })).not.toHaveProperty("automateYoutubeUpload");
    expect(toPayload({ ...DEFAULT_FORM, subject: "x", publish: true })).toMatchObject({
      automateYoutubeUpload: true,
      publish: { privacy: "private" },
    });
    const payload = toPayload({ ...DEFAULT_FORM, subject: "x", publish: true, privacy: "unlisted", account: "4" });
    expect(payload.publish).toEqual({ privacy: "unlisted", accountId: 4 });
  });

  it("keeps numbers inside the API's bounds", () => {
    const payload = toPayload({ ...DEFAULT_FORM, subject: "x", paragraphs: 40, fontSize: 5, priority: 500, musicVolume: 2 });
    expect(payload).toMatchObject({ paragraphNumber: 10, fontSize: 20, priority: 100, musicVolume: 1 });
  });
});

describe("remembered choices", () => {
  it("remembers the settings, not the subject or the script", () => {
    const choices = rememberedChoices({ ...DEFAULT_FORM, subject: "Bees", script: "Text", quality: "draft" });
    expect(choices).not.toHaveProperty("subject");
    expect(choices).not.toHaveProperty("script");
    expect(choices.quality).toBe("draft");
  });

  it("remembers the privacy but not to publish: each video is published only when asked", () => {
    const choices = rememberedChoices({ ...DEFAULT_FORM, publish: true, privacy: "unlisted", account: "4" });
    expect(choices).not.toHaveProperty("publish");
    expect(choices).not.toHaveProperty("account");
    const form = restoreForm(JSON.stringify({ ...choices, publish: true }));
    expect(form.publish).toBe(false);
    expect(form.privacy).toBe("unlisted");
    expect(restoreForm(JSON.stringify({ privacy: "secret" })).privacy).toBe("private");
  });

  it("restores stored choices over the defaults, dropping what no longer fits", () => {
    const stored = JSON.stringify({ quality: "draft", aspect: "4:3", fontSize: "big", voice: "v1", subject: "old" });
    const form = restoreForm(stored);
    expect(form.quality).toBe("draft");
    expect(form.aspect).toBe("9:16");
    expect(form.fontSize).toBe(80);
    expect(form.voice).toBe("v1");
    expect(form.subject).toBe("");
  });

  it("starts from the defaults without stored choices or with broken JSON", () => {
    expect(restoreForm(null)).toEqual(DEFAULT_FORM);
    expect(restoreForm("{not json")).toEqual(DEFAULT_FORM);
  });
});

describe("validateForm", () => {
  it("wants a subject and a language code", () => {
    expect(validateForm({ ...DEFAULT_FORM, language: "English" })).toEqual({
      subject: "Enter a subject.",
      language: "Use a language code such as en, de or pt-BR.",
    });
    expect(validateForm({ ...DEFAULT_FORM, subject: "Bees", language: "pt-BR" })).toEqual({});
  });
});
