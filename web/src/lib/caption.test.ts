import { describe, expect, it } from "vitest";
import { captionStyle, highlightColor } from "./caption";

const base = { aspect: "9:16", horizontal: "center", vertical: "bottom", color: "#FFFF00", fontSize: 80, wordHighlight: false } as const;

describe("captionStyle", () => {
  it("sizes the caption as the renderer does, relative to the frame", () => {
    const style = captionStyle(base);
    expect(style.aspectRatio).toBe("1080 / 1920");
    // 80 px on a 1080-wide frame, drawn by line height (1.164 em): 80 / 1.164 / 1080.
    expect(style.fontSizeCqw).toBeCloseTo(6.364, 2);
    expect(style.outlineCqw).toBeCloseTo((6 / 1080) * 100, 2);
    expect(style.marginXPct).toBeCloseTo(7, 1);
    expect(style.marginYPct).toBeCloseTo(8, 1);
    expect(style.justifyContent).toBe("center");
    expect(style.alignItems).toBe("flex-end");
    expect(style.baseColor).toBe("#FFFF00");
    expect(style.highlightColor).toBeNull();
  });

  it("keeps the font size to the short side on a landscape frame", () => {
    const style = captionStyle({ ...base, aspect: "16:9" });
    expect(style.fontSizeCqw).toBeCloseTo((80 / 1.164 / 1920) * 100, 2);
  });

  it("places the caption where the position says", () => {
    const style = captionStyle({ ...base, horizontal: "left", vertical: "top" });
    expect([style.justifyContent, style.alignItems, style.textAlign]).toEqual(["flex-start", "flex-start", "left"]);
  });

  it("draws white words and the spoken one in colour with word highlight", () => {
    const style = captionStyle({ ...base, color: "#ff0000", wordHighlight: true });
    expect(style.baseColor).toBe("#FFFFFF");
    expect(style.highlightColor).toBe("#FF0000");
  });

  it("grows the margin with a big outline", () => {
    const style = captionStyle({ ...base, fontSize: 200, aspect: "1:1" });
    // outline round(200 * 0.07) = 14 px; 3 × 14 = 42 < 7 % of 1080 = 76: the safe margin holds.
    expect(style.marginXPct).toBeCloseTo(7.037, 2);
  });
});

describe("highlightColor", () => {
  it("falls back to yellow when the colour is near white", () => {
    expect(highlightColor("#F0F0F0")).toBe("#FFFF00");
    expect(highlightColor("#00ff00")).toBe("#00FF00");
  });
});
