"""The pipeline: a spec and a work folder in, result files out; no database, no event loop.

`run_pipeline` (`worker.pipeline.run`) runs the stages in order; each stage is a module here. The
types it shares with the providers live outside this package (`worker.errors`, `worker.options`,
`app.media`), so that providers never import a stage."""
