"""Use cases: plain functions taking a session, raising domain exceptions. Views translate
them to HTTP."""
