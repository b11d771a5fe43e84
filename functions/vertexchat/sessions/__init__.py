"""Conversations in Firestore: the store, its records and ids, transcripts, idempotency, the routes.

Pure parts (no Firestore): ``ids``, ``cursors``, ``records``, ``transcript``, ``bodies`` and
the idempotency decision in ``claims``. ``store`` is the Firestore adapter; ``recorder``
records one turn of a conversation; ``routes`` serves ``/v1/sessions`` and the old
frontend's ``/atoms`` routes.
"""
