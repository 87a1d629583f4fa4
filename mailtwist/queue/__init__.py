"""The outgoing queue: scheduling, delivery attempts and transports."""
