"""Web pages: the status page now; admin and account pages later."""
