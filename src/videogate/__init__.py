"""videogate: one OpenAI-compatible Videos API in front of every video-generation provider."""

__version__ = "0.1.0"
