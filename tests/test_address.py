"""Tests for mailtwist.address: paths, header addresses, NFC, IDNA, catchall and base address."""

from __future__ import annotations

import unicodedata

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import (
    Address,
    AddressError,
    Domain,
    base_address,
    canonical_localpart,
    parse_address,
    parse_domain,
    parse_header_addresses,
    parse_path,
    strip_catchall,
)
from mailtwist.testing.addresses import address_or_none as _address_or_none
from mailtwist.testing.addresses import addresses as _addresses
from mailtwist.testing.addresses import ascii_localparts as _ascii_localparts
from mailtwist.testing.addresses import domain_texts as _domain_texts
from mailtwist.testing.addresses import localpart_chars as _localpart_chars
from mailtwist.testing.addresses import localparts as _localparts

_SETTINGS = settings(max_examples=200, deadline=None)


class ParseDomainTests(SynchronousTestCase):
    """parse_domain: IDNA forms, case, literals and length limits."""

    def test_ascii_lowercased(self) -> None:
        """An ASCII domain in any case gives the lower-case form for both forms."""
        self.assertEqual(
            parse_domain("Mail.EXAMPLE.com"), Domain("mail.example.com", "mail.example.com")
        )

    def test_alabel_equals_ulabel(self) -> None:
        """xn--74h.localhost and ☺.localhost are the same domain, with both forms set."""
        expected = Domain("xn--74h.localhost", "☺.localhost")
        self.assertEqual(parse_domain("xn--74h.localhost"), expected)
        self.assertEqual(parse_domain("☺.localhost"), expected)
        self.assertEqual(parse_domain("XN--74H.LocalHost"), expected)
        self.assertEqual(str(expected), "☺.localhost")

    def test_uts46_mapping(self) -> None:
        """Upper-case U-labels are lower-cased and ß is kept (non-transitional UTS #46)."""
        self.assertEqual(
            parse_domain("BÜCHER.Example"), Domain("xn--bcher-kva.example", "bücher.example")
        )
        self.assertEqual(parse_domain("straße.de"), Domain("xn--strae-oqa.de", "straße.de"))

    def test_unicode_form_is_nfc(self) -> None:
        """A decomposed U-label gives the NFC Unicode form."""
        self.assertEqual(parse_domain("e\u0301lan.example").unicode, "\u00e9lan.example")

    def test_trailing_dot_refused(self) -> None:
        """A trailing dot, ASCII or ideographic, is refused."""
        for text in ("example.com.", "example.com\u3002"):
            with self.assertRaisesRegex(AddressError, "trailing dot"):
                parse_domain(text)

    def test_empty_and_empty_label(self) -> None:
        """Empty domains and empty labels are refused with what is wrong."""
        with self.assertRaisesRegex(AddressError, "empty domain"):
            parse_domain("")
        with self.assertRaisesRegex(AddressError, "empty label"):
            parse_domain("a..example")
        with self.assertRaisesRegex(AddressError, "empty label"):
            parse_domain(".example")

    def test_label_syntax(self) -> None:
        """Underscores, spaces, edge hyphens and reserved '--' positions are refused."""
        for text, reason in [
            ("a_b.example", "invalid character '_'"),
            ("a b.example", "invalid character U\\+0020"),
            ("-a.example", "hyphen"),
            ("a-.example", "hyphen"),
            ("ab--c.example", "positions 3 and 4"),
            ("a@b", "invalid character '@'"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_domain(text)

    def test_bad_alabels(self) -> None:
        """A-labels must be valid punycode of a valid, normalised, non-ASCII label."""
        with self.assertRaisesRegex(AddressError, "not valid punycode"):
            parse_domain("xn--zz.example")
        with self.assertRaisesRegex(AddressError, "non-ASCII"):
            parse_domain("xn--abc-.example")
        with self.assertRaisesRegex(AddressError, "punycode|non-ASCII"):
            parse_domain("xn--.example")

    def test_label_length(self) -> None:
        """A label of 63 octets is fine, 64 is refused (RFC 1035)."""
        self.assertEqual(parse_domain("a" * 63 + ".example").ascii, "a" * 63 + ".example")
        with self.assertRaisesRegex(AddressError, "longer than 63"):
            parse_domain("a" * 64 + ".example")

    def test_unicode_label_length_counts_alabel(self) -> None:
        """The 63-octet label limit applies to the A-label of a Unicode label."""
        with self.assertRaisesRegex(AddressError, "as A-label"):
            parse_domain("".join(chr(0x4E00 + i * 997) for i in range(22)) + ".example")

    def test_domain_length(self) -> None:
        """A domain of 253 octets is fine, 254 is refused."""
        text = ".".join(["a" * 63] * 3 + ["a" * 61])
        self.assertEqual(len(text), 253)
        self.assertEqual(parse_domain(text).ascii, text)
        with self.assertRaisesRegex(AddressError, "longer than 253"):
            parse_domain(text + "a")

    def test_ipv4_literal(self) -> None:
        """IPv4 address literals are accepted and written canonically."""
        domain = parse_domain("[192.0.2.001]")
        self.assertEqual(domain, Domain("[192.0.2.1]", "[192.0.2.1]"))
        self.assertTrue(domain.is_literal)
        self.assertFalse(parse_domain("example.com").is_literal)

    def test_ipv6_literal(self) -> None:
        """IPv6 literals accept any case of the tag and are compressed."""
        self.assertEqual(parse_domain("[ipv6:0:0::1]").ascii, "[IPv6:::1]")
        self.assertEqual(parse_domain("[IPv6:2001:DB8::1]").unicode, "[IPv6:2001:db8::1]")

    def test_bad_literals(self) -> None:
        """Malformed or unknown address literals are refused with the reason."""
        for text, reason in [
            ("[1.2.3.256]", "over 255"),
            ("[1.2.3]", "invalid IPv4"),
            ("[1.2.3.4", "does not end"),
            ("[IPv6:1::2::3]", "invalid IPv6"),
            ("[IPv6:fe80::1%eth0]", "zone index"),
            ("[tag:value]", "unsupported tag"),
            ("[\u0661.2.3.4]", "invalid IPv4"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_domain(text)

    @_SETTINGS
    @given(_domain_texts)
    def test_forms_agree(self, text: str) -> None:
        """The A-label form, the U-label form and upper-cased ASCII all give one Domain."""
        domain = parse_domain(text)
        self.assertEqual(parse_domain(domain.ascii), domain)
        self.assertEqual(parse_domain(domain.ascii.upper()), domain)
        self.assertEqual(parse_domain(domain.unicode), domain)
        # Not str.upper() on everything: "ß".upper() is "SS", a different domain.
        self.assertEqual(
            parse_domain("".join(c.upper() if c.isascii() else c for c in text)), domain
        )


class ParseAddressTests(SynchronousTestCase):
    """parse_address: RFC 5321 Mailbox with quoted and UTF-8 localparts."""

    def test_simple(self) -> None:
        """A plain address keeps the localpart case and lower-cases the domain."""
        address = parse_address("Mjl@Example.COM")
        self.assertEqual(address, Address("Mjl", Domain("example.com", "example.com")))
        self.assertEqual(str(address), "Mjl@example.com")
        self.assertEqual(address.ascii(), "Mjl@example.com")
        self.assertTrue(address.is_ascii)

    def test_quoted_space(self) -> None:
        """A quoted localpart with a space keeps the space and is quoted again on output."""
        address = parse_address('"a b"@x.example')
        self.assertEqual(address.localpart, "a b")
        self.assertEqual(str(address), '"a b"@x.example')

    def test_quoted_escape(self) -> None:
        """Quoted-pairs are unescaped in the value and re-escaped on output."""
        address = parse_address('"a\\"b\\\\c"@x.example')
        self.assertEqual(address.localpart, 'a"b\\c')
        self.assertEqual(str(address), '"a\\"b\\\\c"@x.example')

    def test_needless_quotes_dropped(self) -> None:
        """A quoted localpart that is a dot-string is written without quotes."""
        self.assertEqual(str(parse_address('"a.b"@x.example')), "a.b@x.example")
        self.assertEqual(parse_address('"a\\b"@x.example').localpart, "ab")

    def test_quoted_specials(self) -> None:
        """Characters such as '@' and '..' are allowed inside quotes only."""
        address = parse_address('"a@b..c"@x.example')
        self.assertEqual(address.localpart, "a@b..c")
        self.assertEqual(str(address), '"a@b..c"@x.example')

    def test_utf8_localpart(self) -> None:
        """A UTF-8 localpart is accepted, needs SMTPUTF8, and has no ASCII form."""
        address = parse_address("jöran@x.example")
        self.assertEqual(address.localpart, "jöran")
        self.assertFalse(address.is_ascii)
        with self.assertRaisesRegex(AddressError, "SMTPUTF8"):
            address.ascii()

    def test_utf8_refused_without_smtputf8(self) -> None:
        """Without allow_utf8, non-ASCII in localpart or domain is refused."""
        with self.assertRaisesRegex(AddressError, "without SMTPUTF8"):
            parse_address("jöran@x.example", allow_utf8=False)
        with self.assertRaisesRegex(AddressError, "without SMTPUTF8"):
            parse_address("a@☺.localhost", allow_utf8=False)
        self.assertEqual(
            str(parse_address("a@xn--74h.localhost", allow_utf8=False)), "a@☺.localhost"
        )

    def test_nfc(self) -> None:
        """Composed é (U+00E9) and e + U+0301 give equal addresses, stored composed."""
        composed = parse_address("\u00e9@x.example")
        decomposed = parse_address("e\u0301@x.example")
        self.assertEqual(composed, decomposed)
        self.assertEqual(decomposed.localpart, "\u00e9")
        self.assertEqual(Address("e\u0301", composed.domain), composed)

    def test_idna_domain(self) -> None:
        """A-label and U-label domains give equal addresses; str uses Unicode, ascii() A-labels."""
        address = parse_address("a@xn--74h.localhost")
        self.assertEqual(address, parse_address("a@☺.LOCALHOST"))
        self.assertEqual(str(address), "a@☺.localhost")
        self.assertEqual(address.ascii(), "a@xn--74h.localhost")

    def test_literal_domain(self) -> None:
        """Address literals are accepted as the domain."""
        self.assertEqual(str(parse_address("a@[192.0.2.1]")), "a@[192.0.2.1]")
        self.assertEqual(str(parse_address("a@[IPv6:::1]")), "a@[IPv6:::1]")

    def test_localpart_length(self) -> None:
        """64 octets of localpart are fine, 65 are refused, counted in UTF-8."""
        self.assertEqual(len(parse_address("a" * 64 + "@x.example").localpart), 64)
        with self.assertRaisesRegex(AddressError, "65 octets, more than 64"):
            parse_address("a" * 65 + "@x.example")
        with self.assertRaisesRegex(AddressError, "66 octets"):
            parse_address("ö" * 33 + "@x.example")

    def test_address_length(self) -> None:
        """A whole address over 254 octets is refused."""
        domain = ".".join(["d" * 63] * 3 + ["d" * 61])
        with self.assertRaisesRegex(AddressError, "more than 254"):
            parse_address("a@" + domain)

    def test_missing_at(self) -> None:
        """An address without '@' says so."""
        for text in ("mjl", '"mjl"'):
            with self.assertRaisesRegex(AddressError, "missing '@'"):
                parse_address(text)

    def test_empty(self) -> None:
        """Empty addresses, localparts and domains are refused with what is empty."""
        for text, reason in [
            ("", "empty address"),
            ("@x.example", "empty localpart"),
            ('""@x.example', "empty localpart"),
            ("a@", "empty domain"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_address(text)

    def test_control_characters(self) -> None:
        """Control characters are refused, quoted or not, ASCII or C1."""
        for text in (
            "a\x00b@x.example",
            '"a\x01b"@x.example',
            '"a\\\x7fb"@x.example',
            "a\x85b@x.example",
            "a\u2028b@x.example",
            "a\tb@x.example",
        ):
            with self.assertRaises(AddressError):
                parse_address(text)

    def test_unquoted_space(self) -> None:
        """A space outside quotes is refused and the message says to quote it."""
        with self.assertRaisesRegex(AddressError, "position 2, it must be quoted"):
            parse_address("a b@x.example")

    def test_nonascii_space_needs_quotes(self) -> None:
        """A no-break space is refused in an atom but allowed, and kept quoted, in quotes."""
        with self.assertRaises(AddressError):
            parse_address("a\u00a0b@x.example")
        self.assertEqual(str(parse_address('"a\u00a0b"@x.example')), '"a\u00a0b"@x.example')

    def test_dots(self) -> None:
        """Leading, trailing and doubled dots in a dot-string are refused."""
        for text, reason in [
            (".a@x.example", "starts with a dot"),
            ("a.@x.example", "ends with a dot"),
            ("a..b@x.example", "two dots in a row"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_address(text)

    def test_quoted_string_errors(self) -> None:
        """Unterminated quotes, bad escapes and text after the quotes are refused."""
        for text, reason in [
            ('"abc@x.example', "no closing"),
            ('"abc\\', "no closing"),
            ('"a"b@x.example', "after quoted localpart"),
            ('"a\\é"@x.example', "invalid escaped character"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_address(text)

    def test_extra_at(self) -> None:
        """A second '@' lands in the domain and is refused there."""
        with self.assertRaisesRegex(AddressError, "'@'"):
            parse_address("a@b@c.example")

    def test_address_validates_construction(self) -> None:
        """Address refuses bad values and a domain that is not a Domain."""
        domain = parse_domain("x.example")
        with self.assertRaisesRegex(AddressError, "empty localpart"):
            Address("", domain)
        with self.assertRaisesRegex(AddressError, "control character"):
            Address("a\nb", domain)
        with self.assertRaises(TypeError):
            Address("a", "x.example")  # type: ignore[arg-type]
        with self.assertRaisesRegex(AddressError, "empty domain"):
            Domain("", "")

    @_SETTINGS
    @given(_addresses())
    def test_round_trip(self, address: Address) -> None:
        """str() of any address parses back to the same address."""
        self.assertEqual(parse_address(str(address)), address)

    @_SETTINGS
    @given(_addresses())
    def test_ascii_round_trip(self, address: Address) -> None:
        """ascii() of an ASCII address parses back without SMTPUTF8; others refuse ascii()."""
        if address.is_ascii:
            self.assertEqual(parse_address(address.ascii(), allow_utf8=False), address)
        else:
            self.assertRaises(AddressError, address.ascii)

    @_SETTINGS
    @given(_addresses())
    def test_nfd_and_nfc_equal(self, address: Address) -> None:
        """NFD and NFC renderings of one address parse to equal values."""
        text = str(address)
        nfd = unicodedata.normalize("NFD", text)
        self.assertEqual(parse_address(nfd), parse_address(text))
        self.assertEqual(
            Address(unicodedata.normalize("NFD", address.localpart), address.domain), address
        )


class DotStringTests(SynchronousTestCase):
    """The regex for ASCII localparts says what the per-character RFC 5321 rule says."""

    def test_ascii_regex_matches_character_rule(self) -> None:
        """Every printable ASCII character alone, around a dot and doubled agrees with
        the atext definition (RFC 5321 §4.1.2 Dot-string)."""
        from mailtwist.address import _ATEXT, _is_dot_string

        def by_rule(text: str) -> bool:
            return all(atom and all(c in _ATEXT for c in atom) for atom in text.split("."))

        chars = [chr(c) for c in range(32, 127)]
        samples = [*chars, *(c + "." + c for c in chars), *(c + c for c in chars), ".", "a..b"]
        for text in samples:
            self.assertEqual(_is_dot_string(text), by_rule(text), repr(text))


class ParsePathTests(SynchronousTestCase):
    """parse_path: angle brackets, the null path and source routes."""

    def test_null_path(self) -> None:
        """<> is the null reverse-path and gives None."""
        self.assertIsNone(parse_path("<>"))

    def test_path(self) -> None:
        """A path gives the address inside the brackets."""
        self.assertEqual(parse_path("<mjl@x.example>"), parse_address("mjl@x.example"))

    def test_source_route_ignored(self) -> None:
        """A source route is checked and dropped."""
        self.assertEqual(
            parse_path("<@a.example,@b.example:user@c.example>"),
            parse_address("user@c.example"),
        )
        self.assertEqual(
            parse_path("<@[192.0.2.1],@[IPv6:::1]:u@c.example>"), parse_address("u@c.example")
        )

    def test_bad_source_route(self) -> None:
        """A malformed source route is refused with what is wrong."""
        for text, reason in [
            ("<@a.example:>", "empty address"),
            ("<@a.example>", "not terminated"),
            ("<@a.example,b.example:u@c.example>", "does not start with '@'"),
            ("<@a_b:u@c.example>", "invalid character '_'"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_path(text)

    def test_missing_brackets(self) -> None:
        """A path without angle brackets is refused."""
        for text, reason in [
            ("mjl@x.example", "does not start with '<'"),
            ("<mjl@x.example", "does not end with '>'"),
            ("mjl@x.example>", "does not start with '<'"),
            ("<", "does not end with '>'"),
            ("", "does not start with '<'"),
            ("<mjl@x.example> SIZE=10", "does not end with '>'"),
        ]:
            with self.assertRaisesRegex(AddressError, reason):
                parse_path(text)

    def test_utf8(self) -> None:
        """A UTF-8 path is accepted only when allowed (SMTPUTF8)."""
        self.assertEqual(parse_path("<jöran@x.example>"), parse_address("jöran@x.example"))
        with self.assertRaisesRegex(AddressError, "without SMTPUTF8"):
            parse_path("<jöran@x.example>", allow_utf8=False)

    def test_postmaster_without_domain(self) -> None:
        """<Postmaster> has no domain and is refused; callers handle it first."""
        with self.assertRaisesRegex(AddressError, "missing '@'"):
            parse_path("<Postmaster>")

    @_SETTINGS
    @given(_addresses())
    def test_round_trip(self, address: Address) -> None:
        """Any address in angle brackets parses back to itself."""
        self.assertEqual(parse_path(f"<{address}>"), address)


class ParseHeaderAddressesTests(SynchronousTestCase):
    """parse_header_addresses: RFC 5322 address lists."""

    def test_display_names(self) -> None:
        """Display names are returned, RFC 2047 decoded, with NFC addresses."""
        self.assertEqual(
            parse_header_addresses(
                '"Mé" <e\u0301@Example.COM>, =?utf-8?q?J=C3=B6ran?= <a@b.example>, c@d.example'
            ),
            [
                ("Mé", parse_address("\u00e9@example.com")),
                ("Jöran", parse_address("a@b.example")),
                ("", parse_address("c@d.example")),
            ],
        )

    def test_groups_flattened(self) -> None:
        """Group members are flattened into the list; an empty group gives nothing."""
        self.assertEqual(
            [str(a) for _, a in parse_header_addresses("grp: a@b.example, c@d.example;, e@f")],
            ["a@b.example", "c@d.example", "e@f"],
        )
        self.assertEqual(parse_header_addresses("undisclosed-recipients:;"), [])

    def test_quoted_and_obsolete(self) -> None:
        """Quoted localparts and obsolete syntax (comments, routes) are accepted."""
        self.assertEqual(
            parse_header_addresses('"a b"@x.example (comment), <@route:c@d.example>'),
            [("", parse_address('"a b"@x.example')), ("", parse_address("c@d.example"))],
        )

    def test_folded(self) -> None:
        """A folded header value is unfolded; a line break without white space is refused."""
        self.assertEqual(
            parse_header_addresses('"Last, First" <a@b.example>,\r\n\tc@d.example'),
            [("Last, First", parse_address("a@b.example")), ("", parse_address("c@d.example"))],
        )
        with self.assertRaisesRegex(AddressError, "line break"):
            parse_header_addresses("a@b.example,\r\nc@d.example")

    def test_idna(self) -> None:
        """A-label domains in headers give the same address as U-labels."""
        [(name, address)] = parse_header_addresses("Smile <a@xn--74h.localhost>")
        self.assertEqual(name, "Smile")
        self.assertEqual(str(address), "a@☺.localhost")

    def test_broken_encoded_word(self) -> None:
        """An undecodable display name is kept with replacement characters, no surrogates."""
        [(name, address)] = parse_header_addresses("=?utf-8?b?invalid?= <a@b.example>")
        self.assertEqual(str(address), "a@b.example")
        self.assertNotIn("\udc8a", name)
        name.encode("utf-8")

    def test_garbage(self) -> None:
        """Garbage, missing domains and bad domains are AddressError, never other exceptions."""
        for value in (
            "",
            "  ",
            "garbage",
            "a@",
            "a@b@c",
            "<>",
            "@x",
            "a@b\x00",
            "a@b c",
            "a@-b.example",
            "Name <a@b",
            "a.b.@c.example",
        ):
            with self.assertRaises(AddressError, msg=repr(value)):
                parse_header_addresses(value)

    @_SETTINGS
    @given(st.lists(_addresses(_ascii_localparts.filter(lambda lp: ".." not in lp)), max_size=4))
    def test_round_trip(self, addresses: list[Address]) -> None:
        """A comma-separated list of addresses parses back to the same addresses."""
        assume(addresses)
        value = ", ".join(f"Name {i} <{a}>" for i, a in enumerate(addresses))
        self.assertEqual(
            parse_header_addresses(value), [(f"Name {i}", a) for i, a in enumerate(addresses)]
        )


class CatchallTests(SynchronousTestCase):
    """strip_catchall and canonical_localpart."""

    def test_strip(self) -> None:
        """The localpart is cut at the first occurrence of any separator."""
        self.assertEqual(strip_catchall("mjl+tag", ["+"]), "mjl")
        self.assertEqual(strip_catchall("mjl+a-b", ["-", "+"]), "mjl")
        self.assertEqual(strip_catchall("mjl-a+b", ["+", "-"]), "mjl")
        self.assertEqual(strip_catchall("mjl", ["+"]), "mjl")
        self.assertEqual(strip_catchall("mjl+tag", []), "mjl+tag")
        self.assertEqual(strip_catchall("mjl+tag", [""]), "mjl+tag")
        self.assertEqual(strip_catchall("mjl--x", ["--"]), "mjl")

    def test_canonical(self) -> None:
        """canonical_localpart lower-cases unless the domain is case sensitive."""
        self.assertEqual(canonical_localpart("MJL+Tag", ["+"]), "mjl")
        self.assertEqual(canonical_localpart("MJL+Tag", ["+"], case_sensitive=True), "MJL")
        self.assertEqual(canonical_localpart("Jöran", []), "jöran")

    @_SETTINGS
    @given(_localparts, st.lists(st.sampled_from(["+", "-", "_", "=="]), max_size=3))
    def test_strip_properties(self, localpart: str, separators: list[str]) -> None:
        """The result is a prefix without separators, and stripping again changes nothing."""
        stripped = strip_catchall(localpart, separators)
        self.assertTrue(localpart.startswith(stripped))
        for separator in separators:
            self.assertNotIn(separator, stripped)
        self.assertEqual(strip_catchall(stripped, separators), stripped)


class BaseAddressTests(SynchronousTestCase):
    """base_address: spec §6.2."""

    def test_spec_example(self) -> None:
        """The spec example maps to remotelast@☺.localhost."""
        address = parse_address("Remote.Last-catchall@xn--74h.localhost")
        self.assertEqual(base_address(address), "remotelast@☺.localhost")

    def test_plus_before_dash(self) -> None:
        """The cut at '+' comes first, then at '-'."""
        self.assertEqual(base_address(parse_address("a-b+c-d@x.example")), "a@x.example")
        self.assertEqual(base_address(parse_address("a.b+c-d@x.example")), "ab@x.example")

    def test_independent_of_case_and_nfc(self) -> None:
        """Case and normalisation of the input do not change the base address."""
        self.assertEqual(
            base_address(parse_address("JÖRAN@x.example")),
            base_address(parse_address("jo\u0308ran@X.example")),
        )

    @_SETTINGS
    @given(_addresses())
    def test_idempotent(self, address: Address) -> None:
        """The base address of a base address is itself."""
        base = base_address(address)
        localpart = base.rsplit("@", 1)[0]
        assume(localpart)
        self.assertEqual(base_address(Address(localpart, address.domain)), base)

    @_SETTINGS
    @given(_addresses(), st.text(_localpart_chars, max_size=8))
    def test_tag_invariant(self, address: Address, tag: str) -> None:
        """Adding a '+tag' to the localpart does not change the base address."""
        tagged = _address_or_none(address.localpart + "+" + tag, address.domain)
        assume(tagged is not None)
        assert tagged is not None
        self.assertEqual(base_address(tagged), base_address(address))

    @_SETTINGS
    @given(_addresses(_ascii_localparts))
    def test_case_invariant(self, address: Address) -> None:
        """Upper-, lower- and swapped-case localparts have one base address."""
        base = base_address(address)
        for changed in (str.upper, str.lower, str.swapcase):
            variant = Address(changed(address.localpart), address.domain)
            self.assertEqual(base_address(variant), base)

    @_SETTINGS
    @given(_addresses(), st.lists(st.integers(min_value=0), max_size=3))
    def test_dot_invariant(self, address: Address, positions: list[int]) -> None:
        """Inserting dots anywhere in the localpart does not change the base address."""
        localpart = address.localpart
        for position in positions:
            position %= len(localpart) + 1
            localpart = localpart[:position] + "." + localpart[position:]
        dotted = _address_or_none(localpart, address.domain)
        assume(dotted is not None)
        assert dotted is not None
        self.assertEqual(base_address(dotted), base_address(address))
