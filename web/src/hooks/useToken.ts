/** URL tokens in components (see api/tokens): addresses for elements that load by themselves. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { scopeToken, withToken, type HeldToken } from "../api/tokens";
import { useApiKeyVersion } from "./useApi";

export interface ScopeToken {
  /** False until the first token (or the knowledge that none is needed) is there. */
  ready: boolean;
  sign: (path: string) => string;
  /** Ask for the token again: a fresh one if the one held is half spent, else the same. */
  renew: () => void;
}

/** The token of `scope`, renewed when half spent and when the API key changes, so the addresses
 * it signs change then; `pinned` holds it until `renew()` (see useSignedMedia). */
export function useScopeToken(scope: string, options: { pinned?: boolean } = {}): ScopeToken {
  const pinned = options.pinned ?? false;
  const [held, setHeld] = useState<HeldToken | null>(null);
  const [round, setRound] = useState(0);
  const keyVersion = useApiKeyVersion();
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    void scopeToken(scope).then((token) => {
      if (!live) return;
      setHeld(token);
      if ((!pinned || !token.token) && Number.isFinite(token.renewAt)) {
        timer = setTimeout(() => setRound((count) => count + 1), Math.max(0, token.renewAt - Date.now()));
      }
    });
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [scope, pinned, round, keyVersion]);
  const renew = useCallback(() => setRound((count) => count + 1), []);
  const token = held?.token ?? null;
  const sign = useCallback((path: string) => withToken(path, token), [token]);
  return { ready: held !== null, sign, renew };
}

/** Props for a <video> or <audio> playing `path`, or null until its address can be signed:
 * render the element only then, since a player given its src after a click on play never starts.
 * The src stays put while it plays (a new src restarts it); after a load error (its token expired
 * while the page sat idle) it gets a fresh one and resumes where it was. */
export function useSignedMedia(path: string, scope: string) {
  const { ready, sign, renew } = useScopeToken(scope, { pinned: true });
  const resume = useRef<{ at: number; playing: boolean } | null>(null);
  if (!ready) return null;
  return {
    src: sign(path),
    onError: (event: Event) => {
      const media = event.currentTarget as HTMLMediaElement;
      resume.current = { at: media.currentTime, playing: !media.paused };
      renew();
    },
    onLoadedMetadata: (event: Event) => {
      const media = event.currentTarget as HTMLMediaElement;
      const where = resume.current;
      resume.current = null;
      if (!where) return;
      media.currentTime = where.at;
      if (where.playing) void media.play().catch(() => undefined); // the browser may refuse
    },
  };
}
