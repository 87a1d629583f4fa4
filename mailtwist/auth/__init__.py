"""Authentication: password secrets, SASL mechanisms and the failed-login limiter."""
