"""``healcrew serve``: the webhook service, its state, queue and workers."""
