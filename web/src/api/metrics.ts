/** The queue's figures: jobs by state, workers and slots, timings, recent throughput. */
import { getJson } from "./client";
import type { Metrics } from "./types";

export const getMetrics = () => getJson<Metrics>("/api/metrics");
