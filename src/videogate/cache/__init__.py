"""The response cache for video creates: direct and semantic hits, shared jobs, refcounts.

A create that sends `x-bf-cache-key` is looked up before any money is spent; a hit answers
with a new video of the caller's own that shares the earlier upstream job (and its mirrored
media), so nothing is generated twice. See docs/cache.md.
"""
