"""The CSV import of contacts (``POST /api/contacts/import``), one job per module:

- ``parse.py``: the bytes decoded into records as they arrive, the header checked, a
  record validated through pydantic;
- ``check.py``: the quick check of a plainly valid record, without pydantic;
- ``write.py``: one batch written (the rules of ``rules.py``, ``COPY``, the events);
- ``pipeline.py``: the reader and writer tasks, a unit of work per batch, retries;
- ``jobs.py``: import jobs in the background (``Prefer: respond-async``);
- ``service.py``: ``ImportService``, what the routes call.
"""
