"""twistd entry point: makes `twistd -n mailtwist ...` find mailtwist."""

from twisted.application.service import ServiceMaker

mailtwist = ServiceMaker(
    "mailtwist",
    "mailtwist.tap",
    "A mail server for applications (serve, localserve).",
    "mailtwist",
)
