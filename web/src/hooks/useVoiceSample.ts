/** Play a voice's sample, one at a time; the API's message when there is none. */
import { useEffect, useRef, useState } from "preact/hooks";
import { describeError } from "../api/client";
import { fetchVoiceSample } from "../api/voices";

/** One press of a sample's play button: the fetch (to abort), then the audio and its URL. */
interface Sample {
  controller: AbortController;
  player: HTMLAudioElement | null;
  url: string | null;
}

export function useVoiceSample() {
  const [playing, setPlaying] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const current = useRef<Sample | null>(null);

  // Stop the sample going, whatever stage it is at: abort its fetch, pause it, free its URL.
  const halt = () => {
    const sample = current.current;
    current.current = null;
    if (!sample) return;
    sample.controller.abort();
    sample.player?.pause();
    if (sample.url) URL.revokeObjectURL(sample.url);
  };
  useEffect(() => halt, []);

  const play = async (voiceId: string) => {
    halt();
    setError(null);
    if (playing === voiceId) {
      setPlaying(null);
      return;
    }
    const sample: Sample = { controller: new AbortController(), player: null, url: null };
    current.current = sample;
    setPlaying(voiceId);
    try {
      const blob = await fetchVoiceSample(voiceId, sample.controller.signal);
      if (current.current !== sample) return; // stopped, replaced or left meanwhile
      sample.url = URL.createObjectURL(blob);
      const player = new Audio(sample.url);
      sample.player = player;
      player.onended = () => {
        if (current.current !== sample) return;
        halt();
        setPlaying(null);
      };
      await player.play();
    } catch (caught) {
      if (current.current !== sample) return; // an abort from Stop or leaving: not an error
      halt();
      setPlaying(null);
      setError(`Voice sample: ${describeError(caught)}`);
    }
  };
  return { playing, error, play };
}
