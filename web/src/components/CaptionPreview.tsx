/** A mock video frame with a caption drawn as the renderer will draw it. */
import { captionStyle, type CaptionSettings } from "../lib/caption";

const WORDS = ["Octopuses", "have", "three", "hearts"];
const SPOKEN_WORD = 1;

export function CaptionPreview(props: { settings: CaptionSettings }) {
  const style = captionStyle(props.settings);
  const outline = `${style.outlineCqw}cqw`;
  return (
    <figure class="caption-preview">
      <div
        class="mock-frame"
        style={{
          aspectRatio: style.aspectRatio,
          justifyContent: style.justifyContent,
          alignItems: style.alignItems,
          padding: `${style.marginYCqw}cqw ${style.marginXPct}cqw`,
        }}
        data-testid="caption-preview"
      >
        <p
          class="mock-caption"
          style={{
            fontSize: `${style.fontSizeCqw}cqw`,
            color: style.baseColor,
            textAlign: style.textAlign,
            WebkitTextStroke: `calc(${outline} * 2) #000`,
            paintOrder: "stroke fill",
          }}
        >
          {WORDS.map((word, index) => (
            <span key={word} style={index === SPOKEN_WORD && style.highlightColor ? { color: style.highlightColor } : undefined}>
              {word}
              {index < WORDS.length - 1 ? " " : ""}
            </span>
          ))}
        </p>
      </div>
      <figcaption class="muted">Caption preview ({props.settings.aspect})</figcaption>
    </figure>
  );
}
