"""SMTP vocabulary shared by server and client: reply codes, enhanced codes, paths and parameters."""
