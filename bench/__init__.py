"""videogate's benchmark harness: `make bench` (= `python -m bench`), `--quick` for the tests.

Modules: `upstream` (the loopback OpenAI Videos API), `targets` (starting direct, videogate and
its variants), `litellm` (LiteLLM's proxy in its own network namespace), `measure` (wrk
saturation, fixed-rate latency, streaming), `loadgen` (the open-loop generator), `seed` (bulk
rows straight into the store), `report` (Markdown), `pyspy` (profile summaries).
"""
