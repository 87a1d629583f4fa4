"""Hypothesis strategies for addresses: localparts, domains (A- and U-labels), addresses."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from mailtwist.address import Address, AddressError, Domain, parse_domain

# Characters a localpart value may hold: printable ASCII and space, and any other
# Unicode character except controls, surrogates and line/paragraph separators.
localpart_chars = st.one_of(
    st.characters(min_codepoint=32, max_codepoint=126),
    st.characters(
        min_codepoint=128,
        max_codepoint=0x2FFFF,
        exclude_categories=("Cc", "Cs", "Zl", "Zp"),  # type: ignore[arg-type]
    ),
)
localparts = st.text(localpart_chars, min_size=1, max_size=16)
ascii_localparts = st.from_regex(r"[A-Za-z0-9.+_-]{1,20}", fullmatch=True)
ldh_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)
unicode_labels = st.sampled_from(["☺", "bücher", "straße", "日本", "пример", "jöran", "élan"])
domain_texts = st.lists(st.one_of(ldh_labels, unicode_labels), min_size=1, max_size=3).map(".".join)
domains = domain_texts.map(parse_domain)


def address_or_none(localpart: str, domain: Domain) -> Address | None:
    """The address, or None when it is not a valid one (too long, bad characters)."""
    try:
        return Address(localpart, domain)
    except AddressError:
        return None


@st.composite
def addresses(draw: st.DrawFn, localparts: st.SearchStrategy[str] = localparts) -> Address:
    """Valid addresses (NFC localparts, quoted where needed) at generated domains."""
    address = address_or_none(draw(localparts), draw(domains))
    assume(address is not None)
    assert address is not None
    return address


__all__ = [
    "address_or_none",
    "addresses",
    "ascii_localparts",
    "domain_texts",
    "domains",
    "ldh_labels",
    "localpart_chars",
    "localparts",
    "unicode_labels",
]
