"""The configuration file: model, loading, validation and the quickstart writer."""

from mailtwist.config.certificate import write_self_signed_certificate
from mailtwist.config.duration import format_duration, parse_duration
from mailtwist.config.loader import load_config
from mailtwist.config.model import (
    LISTENER_KINDS,
    MODES,
    AccountConfig,
    Config,
    ConfigError,
    DKIMSelector,
    DomainConfig,
    ListenerConfig,
)
from mailtwist.config.writer import (
    CONFIG_NAME,
    Quickstart,
    write_localserve_config,
    write_quickstart,
)

__all__ = [
    "CONFIG_NAME",
    "LISTENER_KINDS",
    "MODES",
    "AccountConfig",
    "Config",
    "ConfigError",
    "DKIMSelector",
    "DomainConfig",
    "ListenerConfig",
    "Quickstart",
    "format_duration",
    "load_config",
    "parse_duration",
    "write_localserve_config",
    "write_quickstart",
    "write_self_signed_certificate",
]
