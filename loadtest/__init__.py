"""``make loadtest``: the project's own load and fault suite (see ``run``)."""
