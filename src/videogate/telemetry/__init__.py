"""Metrics, traces and logs: a bottom layer every other may import (it imports only `config`
and `errors`). docs/operations.md lists what each exposes."""
