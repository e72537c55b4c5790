"""The pipeline: a spec and a work folder in, result files out; no database, no event loop.

`run_pipeline` lives in `worker.pipeline.run`; this package's top only holds the shared types, so
that providers can import them without pulling in every stage."""

from worker.pipeline.base import (
    Clip,
    OutputFile,
    PipelineError,
    PipelineOptions,
    PipelineResult,
    ProgressEvent,
    Report,
)

__all__ = [
    "Clip",
    "OutputFile",
    "PipelineError",
    "PipelineOptions",
    "PipelineResult",
    "ProgressEvent",
    "Report",
]
