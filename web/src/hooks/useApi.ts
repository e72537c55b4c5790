/** Load an API answer into a component: data, the API's error message, and reload. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { describeError } from "../api/client";

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

  useEffect(() => {
    void reload();
  }, [reload]);

  return { data, error, loading, reload };
}
