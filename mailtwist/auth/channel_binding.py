"""The channel binding of a TLS connection, for SCRAM-SHA-256-PLUS (RFC 9266)."""

from __future__ import annotations

from OpenSSL.SSL import Connection

from mailtwist.auth.sasl import ChannelBinding

#: RFC 9266 §2: tls-exporter is the exporter with this label, an empty context and
#: 32 bytes of output.
EXPORTER_LABEL = b"EXPORTER-Channel-Binding"
EXPORTER_LENGTH = 32


def tls_channel_binding(connection: Connection) -> ChannelBinding | None:
    """The ``tls-exporter`` binding of an established TLS 1.3 connection, else None.

    RFC 9266 makes tls-exporter the binding of TLS 1.3, where tls-unique is not
    defined. Over TLS 1.2 tls-exporter is safe only with the extended master secret
    (RFC 7627), which pyOpenSSL cannot tell us, and tls-unique is open to the
    triple-handshake attack without it: so no -PLUS there, plain SCRAM stays.
    """
    if connection.get_protocol_version_name() != "TLSv1.3":
        return None
    data = connection.export_keying_material(EXPORTER_LABEL, EXPORTER_LENGTH, b"")
    return ChannelBinding("tls-exporter", data)


__all__ = ["EXPORTER_LABEL", "EXPORTER_LENGTH", "tls_channel_binding"]
