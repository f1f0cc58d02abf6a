"""The service layer: one unit of work per operation (create, remix, retrieve, list, content,
delete, poll, mirror, the deletion outbox), each given the collaborators it needs.

HTTP handlers (`api/`), the background worker (`jobs/`) and the CLI call these; nothing here
knows about HTTP requests, headers or the ASGI scope.
"""
