"""The ESMTP server protocol and its submission and inbound policies."""
