/** Load a GET endpoint into a component: data, the API's error message, and reload. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { describeError, getJson } from "../lib/api";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => Promise<void>;
}

export function useApi<T extends { status?: string }>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(path !== null);
  const latest = useRef(path);
  latest.current = path;

  const reload = useCallback(async () => {
    if (path === null) return;
    setLoading(true);
    try {
      const body = await getJson<T>(path);
      if (latest.current !== path) return; // a newer request owns the state
      setData(body);
      setError(null);
    } catch (caught) {
      if (latest.current === path) setError(describeError(caught));
    } finally {
      if (latest.current === path) setLoading(false);
    }
  }, [path]);

  useEffect(() => {
    void reload();
  }, [reload]);

  return { data, error, loading, reload };
}
