"""SMTP vocabulary shared by server and client: replies, enhanced codes, parameters."""
