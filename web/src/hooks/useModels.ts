/** The AI models for the create form: the answer (an error answer included), or why none came. */
import { useEffect, useState } from "preact/hooks";
import { describeError } from "../api/client";
import { getModels } from "../api/models";
import type { ModelsResponse } from "../api/types";

export function useModels() {
  const [answer, setAnswer] = useState<ModelsResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    getModels().then(setAnswer, (caught) => setError(describeError(caught)));
  }, []);
  return { answer, error };
}
