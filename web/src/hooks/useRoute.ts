/** The page route of the current hash, following its changes. */
import { useEffect, useState } from "preact/hooks";
import { parseRoute, type Route } from "../lib/query";

export function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return parseRoute(hash);
}
