/** The caption preview: the renderer's subtitle geometry (worker/pipeline/subtitles.py) as CSS
 * lengths relative to the preview frame, so the mock frame shows what the video will. */

import type { Aspect } from "./form";

export const FRAME_SIZE_PX: Record<Aspect, readonly [number, number]> = {
  "9:16": [1080, 1920],
  "16:9": [1920, 1080],
  "1:1": [1080, 1080],
};
const REFERENCE_SIZE_PX = 1080; // fontSize is meant for a 1080-pixel-wide (or high) frame
const OUTLINE_RATIO = 0.07;
const SAFE_MARGIN_X = 0.07;
const SAFE_MARGIN_Y = 0.08;
// libass sizes a font by its line height, 1.164 em for DejaVu Sans Bold; CSS sizes by the em.
const LINE_HEIGHT_EM = 1.164;
const HIGHLIGHT_BASE_COLOR = "#FFFFFF";
const HIGHLIGHT_FALLBACK_COLOR = "#FFFF00";

export interface CaptionSettings {
  aspect: Aspect;
  horizontal: "left" | "center" | "right";
  vertical: "top" | "center" | "bottom";
  color: string;
  fontSize: number;
  wordHighlight: boolean;
}

export interface CaptionStyle {
  aspectRatio: string; // the frame's CSS aspect-ratio
  fontSizeCqw: number; // in % of the frame's width (container query units)
  outlineCqw: number;
  marginXPct: number; // of the frame's width
  marginYPct: number; // of the frame's height
  marginYCqw: number; // the same in % of the frame's width (CSS padding is relative to width)
  justifyContent: "flex-start" | "center" | "flex-end";
  alignItems: "flex-start" | "center" | "flex-end";
  textAlign: "left" | "center" | "right";
  baseColor: string; // the words not being spoken
  highlightColor: string | null; // the spoken word, with word highlight
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The spoken word's colour: the chosen one, unless it would not stand out from white. */
export function highlightColor(color: string): string {
  const hex = color.replace("#", "");
  const channels = [0, 2, 4].map((index) => parseInt(hex.slice(index, index + 2), 16));
  return Math.min(...channels) >= 0xe0 ? HIGHLIGHT_FALLBACK_COLOR : color.toUpperCase();
}

export function captionStyle(settings: CaptionSettings): CaptionStyle {
  const [width, height] = FRAME_SIZE_PX[settings.aspect];
  const assSizePx = Math.max(8, Math.round((settings.fontSize * Math.min(width, height)) / REFERENCE_SIZE_PX));
  const outlinePx = Math.max(2, Math.round(assSizePx * OUTLINE_RATIO));
  const marginXPx = Math.max(Math.round(width * SAFE_MARGIN_X), 3 * outlinePx);
  const marginYPx = Math.max(Math.round(height * SAFE_MARGIN_Y), 3 * outlinePx);
  const flex = { left: "flex-start", top: "flex-start", center: "center", right: "flex-end", bottom: "flex-end" } as const;
  return {
    aspectRatio: `${width} / ${height}`,
    fontSizeCqw: round(((assSizePx / LINE_HEIGHT_EM) / width) * 100),
    outlineCqw: round((outlinePx / width) * 100),
    marginXPct: round((marginXPx / width) * 100),
    marginYPct: round((marginYPx / height) * 100),
    marginYCqw: round((marginYPx / width) * 100),
    justifyContent: flex[settings.horizontal],
    alignItems: flex[settings.vertical],
    textAlign: settings.horizontal,
    baseColor: settings.wordHighlight ? HIGHLIGHT_BASE_COLOR : settings.color.toUpperCase(),
    highlightColor: settings.wordHighlight ? highlightColor(settings.color) : null,
  };
}
