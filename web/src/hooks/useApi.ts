/** Load an API answer into a component: data, the API's error message, and reload (also when
 * the API key changes: what it refused may work now). */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { describeError, onApiKeyChange } from "../api/client";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => Promise<void>;
}

/** `load` fetches what `key` names: a new key loads again, and an answer for an older key is
 * dropped (`load` itself may be a new function at each render). */
export function useApi<T>(key: string, load: () => Promise<T>): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const latest = useRef(key);
  latest.current = key;
  const loader = useRef(load);
  loader.current = load;

  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const body = await loader.current();
      if (latest.current !== key) return; // a newer request owns the state
      setData(body);
      setError(null);
    } catch (caught) {
      if (latest.current === key) setError(describeError(caught));
    } finally {
      if (latest.current === key) setLoading(false);
    }
  }, [key]);

  const keyVersion = useApiKeyVersion();
  useEffect(() => {
    void reload();
  }, [reload, keyVersion]);

  return { data, error, loading, reload };
}

/** A number that grows each time the API key is saved: a dependency for effects that load. */
export function useApiKeyVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => onApiKeyChange(() => setVersion((count) => count + 1)), []);
  return version;
}
