/** The API's shapes under the names the page uses: aliases of the types generated from the API's
 * OpenAPI document (schema.d.ts, `make api-types`) rather than by hand, so they follow the API. */
import type { components, operations } from "./schema";

type Schemas = components["schemas"];

export type Job = Schemas["JobRead"];
export type JobState = Schemas["JobStatus"];
export type JobEvent = Schemas["EventRead"];
export type Artifact = Schemas["ArtifactRead"];
export type Song = Schemas["SongRead"];
export type Voice = Schemas["VoiceRead"];
export type Metrics = Schemas["MetricsResponse"];

export type JobPage = Schemas["JobPage"];
export type Batch = Schemas["BatchRead"];
export type BatchJob = Schemas["BatchJobRead"];
export type BatchPage = Schemas["BatchPage"];
export type BatchResponse = Schemas["BatchResponse"];
export type BatchCreated = Schemas["BatchCreated"];
export type BatchAction = Schemas["BatchActionResponse"];
export type JobResponse = Schemas["JobResponse"];
export type JobListQuery = NonNullable<operations["list_jobs_api_jobs_get"]["parameters"]["query"]>;
export type GenerateResponse = Schemas["GenerateResponse"];
export type CancelResponse = Schemas["CancelResponse"];
export type RetryResponse = Schemas["RetryResponse"];
export type ArtifactList = Schemas["ArtifactList"];
export type EventList = Schemas["EventList"];
export type SongList = Schemas["SongList"];
export type UploadResponse = Schemas["UploadResponse"];
export type UploadRefused = Schemas["UploadRefused"];
export type SkippedFile = Schemas["SkippedFileRead"];
export type MessageResponse = Schemas["MessageResponse"];
export type VoiceList = Schemas["VoiceList"];
export type ModelsResponse = Schemas["ModelsResponse"];
export type TokenResponse = Schemas["TokenResponse"];
export type Account = Schemas["AccountRead"];
export type AccountList = Schemas["AccountList"];
export type ConnectResponse = Schemas["ConnectResponse"];
export type Publication = Schemas["PublicationRead"];
export type PublishResponse = Schemas["PublishResponse"];
export type Privacy = Schemas["PublishOptions"]["privacy"];

/** The POST /api/jobs/{id}/publish body (also `publish` in GenerateBody): every field optional,
 * as a field left out takes the server's default (see GenerateBody). */
export type PublishBody = Partial<Schemas["PublishOptions"]>;

/** The POST /api/generate body. The generator marks every field with a default as required (true
 * of answers, which always carry them); in a request a field left out takes the server's default,
 * so only the subject is required here, and in `publish` nothing. */
export type GenerateBody = Pick<Schemas["GenerateRequest"], "videoSubject"> &
  Partial<Omit<Schemas["GenerateRequest"], "publish">> & { publish?: PublishBody | null };

/** The POST /api/batches body: `jobs` and nothing else required (see GenerateBody). */
export type BatchBody = Pick<Schemas["BatchRequest"], "jobs"> & Partial<Omit<Schemas["BatchRequest"], "jobs">>;

export type Storyboard = Schemas["StoryboardView"];
export type StoryScene = Schemas["SceneView"];
export type StoryClip = Schemas["ClipView"];
export type FootageFound = Schemas["FootageFound"];
/** The PATCH /api/jobs/{id}/storyboard body: every part optional (see GenerateBody). */
export type StoryboardEdit = Partial<Schemas["StoryboardEdit"]>;
export type ClipUploaded = Schemas["ClipUploaded"];
export type PreviewQueued = Schemas["PreviewQueued"];
