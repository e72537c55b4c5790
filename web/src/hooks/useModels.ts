/** The AI models for the create form: the answer (an error answer included), or why none came. */
import { useEffect, useState } from "preact/hooks";
import { describeError } from "../api/client";
import { getModels } from "../api/models";
import type { ModelsResponse } from "../api/types";
import { useApiKeyVersion } from "./useApi";

export function useModels() {
  const [answer, setAnswer] = useState<ModelsResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const keyVersion = useApiKeyVersion();
  useEffect(() => {
    getModels().then(
      (body) => {
        setAnswer(body);
        setError(null);
      },
      (caught) => setError(describeError(caught)),
    );
  }, [keyVersion]);
  return { answer, error };
}
