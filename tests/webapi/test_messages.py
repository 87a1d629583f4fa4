"""Tests for the webapi message methods over an account's mailboxes (spec §2.5)."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.webapi.fakes import Harness

MESSAGE = (
    b"From: Sender <sender@example.org>\r\n"
    b"To: mox@localhost\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
    b"Message-Id: <m1@example.org>\r\n"
    b"In-Reply-To: <parent@example.org>\r\n"
    b"Date: Thu, 4 Apr 2024 14:29:42 +0200\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"hello\r\n"
    b"--b\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b'Content-Disposition: attachment; filename="data.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAw==\r\n"
    b"--b--\r\n"
)

EVERY_METHOD: tuple[tuple[str, dict[str, Any]], ...] = (
    ("MessageGet", {}),
    ("MessageRawGet", {}),
    ("MessagePartGet", {"PartPath": []}),
    ("MessageFlagsAdd", {"Flags": ["\\seen"]}),
    ("MessageFlagsRemove", {"Flags": ["\\seen"]}),
    ("MessageMove", {"DestMailboxName": "Archive"}),
    ("MessageDelete", {}),
)


class MessageMethodTests(SynchronousTestCase):
    """Get, raw, part, flags, move and delete on the authenticated account's messages."""

    def setUp(self) -> None:
        self.webapi = Harness()
        self.msg_id = self.webapi.deliver(
            "mox",
            MESSAGE,
            mail_from="sender@example.org",
            rcpt_to="mox@localhost",
            remote_ip="192.0.2.1",
        )

    def get(self) -> dict[str, object]:
        response = self.webapi.call("MessageGet", {"MsgID": self.msg_id})
        self.assertEqual(response.code, 200)
        result: dict[str, object] = response.json
        return result

    def test_message_get(self) -> None:
        """Message fields, the MIME structure and the delivery facts."""
        result = self.get()
        self.assertEqual(set(result), {"Message", "Structure", "Meta"})
        message = result["Message"]
        assert isinstance(message, dict)
        self.assertEqual(message["From"], [{"Name": "Sender", "Address": "sender@example.org"}])
        self.assertEqual(message["To"], [{"Name": "", "Address": "mox@localhost"}])
        self.assertEqual(message["CC"], [])
        self.assertEqual(message["Subject"], "café")
        self.assertEqual(message["MessageID"], "<m1@example.org>")
        self.assertEqual(message["References"], ["<parent@example.org>"])
        self.assertEqual(message["Date"], "2024-04-04T14:29:42+02:00")
        self.assertEqual(message["Text"], "hello")
        self.assertEqual(message["HTML"], "")
        structure = result["Structure"]
        assert isinstance(structure, dict)
        self.assertEqual(structure["ContentType"], "multipart/mixed")
        self.assertEqual(structure["ContentTypeParams"], {"boundary": "b"})
        self.assertEqual([p["Filename"] for p in structure["Parts"]], ["", "data.bin"])
        self.assertEqual(structure["Parts"][1]["DecodedSize"], 4)
        meta = result["Meta"]
        assert isinstance(meta, dict)
        self.assertEqual(meta["MailboxName"], "Inbox")
        self.assertEqual(meta["Size"], len(MESSAGE))
        self.assertEqual(meta["MailFrom"], "sender@example.org")
        self.assertEqual(meta["RcptTo"], "mox@localhost")
        self.assertEqual(meta["MsgFrom"], "sender@example.org")
        self.assertEqual(meta["RemoteIP"], "192.0.2.1")
        self.assertEqual((meta["Flags"], meta["DKIMVerifiedDomains"]), ([], []))

    def test_raw_get(self) -> None:
        """MessageRawGet is the stored bytes as text/plain."""
        response = self.webapi.call("MessageRawGet", {"MsgID": self.msg_id})
        self.assertEqual((response.code, response.body), (200, MESSAGE))
        self.assertEqual(response.header("Content-Type"), "text/plain")

    def test_part_get(self) -> None:
        """MessagePartGet decodes the part; a bad index is partNotFound."""
        response = self.webapi.call("MessagePartGet", {"MsgID": self.msg_id, "PartPath": [1]})
        self.assertEqual((response.code, response.body), (200, b"\x00\x01\x02\x03"))
        response = self.webapi.call("MessagePartGet", {"MsgID": self.msg_id, "PartPath": [5]})
        self.assertEqual(
            response.json, {"Code": "partNotFound", "Message": "part 5 at index 0 not found"}
        )

    def test_flags(self) -> None:
        """Flags are case-insensitive, listed system flags first; add/remove are idempotent."""
        for flags in (["custom", "\\Seen", "$Junk"], ["\\seen"]):
            response = self.webapi.call("MessageFlagsAdd", {"MsgID": self.msg_id, "Flags": flags})
            self.assertEqual((response.code, response.body), (200, b"{}\n"))
        self.assertEqual(self.get()["Meta"]["Flags"], ["$junk", "\\seen", "custom"])  # type: ignore[index]
        for _ in range(2):
            response = self.webapi.call(
                "MessageFlagsRemove", {"MsgID": self.msg_id, "Flags": ["$JUNK", "absent"]}
            )
            self.assertEqual(response.code, 200)
        self.assertEqual(self.get()["Meta"]["Flags"], ["\\seen", "custom"])  # type: ignore[index]

    def test_invalid_flag(self) -> None:
        """A keyword that is no IMAP atom, or an unknown system flag, is code user."""
        for flag in ("two words", "\\unknown", "a(b", ""):
            response = self.webapi.call("MessageFlagsAdd", {"MsgID": self.msg_id, "Flags": [flag]})
            self.assertEqual(response.json["Code"], "user", flag)

    def test_move(self) -> None:
        """Move by name; unknown mailbox and the same mailbox are code user."""
        response = self.webapi.call(
            "MessageMove", {"MsgID": self.msg_id, "DestMailboxName": "Nope"}
        )
        self.assertEqual(
            response.json, {"Code": "user", "Message": "looking up mailbox name: not found"}
        )
        response = self.webapi.call(
            "MessageMove", {"MsgID": self.msg_id, "DestMailboxName": "Archive"}
        )
        self.assertEqual((response.code, response.body), (200, b"{}\n"))
        self.assertEqual(self.get()["Meta"]["MailboxName"], "Archive")  # type: ignore[index]
        response = self.webapi.call(
            "MessageMove", {"MsgID": self.msg_id, "DestMailboxName": "Archive"}
        )
        self.assertEqual(response.json["Code"], "user")

    def test_delete(self) -> None:
        """Delete is permanent; again is "message was removed"; get is messageNotFound."""
        response = self.webapi.call("MessageDelete", {"MsgID": self.msg_id})
        self.assertEqual((response.code, response.body), (200, b"{}\n"))
        response = self.webapi.call("MessageDelete", {"MsgID": self.msg_id})
        self.assertEqual(
            response.json, {"Code": "user", "Message": "getting message: message was removed"}
        )
        response = self.webapi.call("MessageGet", {"MsgID": self.msg_id})
        self.assertEqual(response.json["Code"], "messageNotFound")
        self.assertEqual(self.successResultOf(self.webapi.store.list_messages("mox")), [])

    def test_unknown_and_zero_ids(self) -> None:
        """An unknown id is messageNotFound; id 0 is refused too."""
        for name, extra in EVERY_METHOD:
            response = self.webapi.call(name, {"MsgID": 999, **extra})
            self.assertEqual(response.json["Code"], "messageNotFound", name)
        for name, extra in EVERY_METHOD:
            response = self.webapi.call(name, {"MsgID": 0, **extra})
            self.assertIn(response.json["Code"], ("messageNotFound", "user"), name)


class IsolationTests(SynchronousTestCase):
    """No account reaches another account's messages through any message method."""

    def test_other_accounts_message(self) -> None:
        """Every method on another account's id is messageNotFound and changes nothing."""
        webapi = Harness()
        theirs = webapi.deliver("other", MESSAGE)
        for name, extra in EVERY_METHOD:
            response = webapi.call(name, {"MsgID": theirs, **extra})
            self.assertEqual(response.code, 400, name)
            self.assertEqual(
                response.json, {"Code": "messageNotFound", "Message": "message not found"}, name
            )
        (stored,) = self.successResultOf(webapi.store.list_messages("other"))
        self.assertEqual((stored.id, stored.mailbox, stored.flags), (theirs, "Inbox", ()))
        # And the owner still can.
        response = webapi.call("MessageRawGet", {"MsgID": theirs}, login="other@localhost")
        self.assertEqual(response.body, MESSAGE)

    def test_removed_by_other_account(self) -> None:
        """An id the other account removed is still just "not found" for this one."""
        webapi = Harness()
        theirs = webapi.deliver("other", MESSAGE)
        webapi.call("MessageDelete", {"MsgID": theirs}, login="other@localhost")
        response = webapi.call("MessageDelete", {"MsgID": theirs})
        self.assertEqual(response.json["Code"], "messageNotFound")


class SuppressionTests(SynchronousTestCase):
    """The suppression methods over the account's list, by base address (spec §2.4)."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def test_add_list_present_remove(self) -> None:
        """Add, list, present by any variant, remove; absent again is code error."""
        response = self.webapi.call(
            "SuppressionAdd",
            {"EmailAddress": "Blocked.User+tag@localhost", "Manual": True, "Reason": "unsub"},
        )
        self.assertEqual((response.code, response.body), (200, b"{}\n"))
        (entry,) = self.webapi.call("SuppressionList", {}).json["Suppressions"]
        self.assertEqual(
            set(entry),
            {"ID", "Created", "Account", "BaseAddress", "OriginalAddress", "Manual", "Reason"},
        )
        self.assertEqual(entry["BaseAddress"], "blockeduser@localhost")
        self.assertEqual(entry["OriginalAddress"], "Blocked.User+tag@localhost")
        self.assertEqual(
            (entry["Account"], entry["Manual"], entry["Reason"]), ("mox", True, "unsub")
        )
        self.assertRegex(entry["Created"], r"^2026-11-28T03:39:48(\.\d+)?Z$")
        present = self.webapi.call("SuppressionPresent", {"EmailAddress": "blockeduser@localhost"})
        self.assertEqual(present.json, {"Present": True})
        response = self.webapi.call("SuppressionRemove", {"EmailAddress": "blocked.user@localhost"})
        self.assertEqual(response.body, b"{}\n")
        present = self.webapi.call("SuppressionPresent", {"EmailAddress": "blockeduser@localhost"})
        self.assertEqual(present.json, {"Present": False})
        response = self.webapi.call("SuppressionRemove", {"EmailAddress": "blocked.user@localhost"})
        self.assertEqual(response.json, {"Code": "error", "Message": "absent"})

    def test_duplicate(self) -> None:
        """A second entry for the same base address is code error."""
        self.webapi.call("SuppressionAdd", {"EmailAddress": "a@localhost"})
        response = self.webapi.call("SuppressionAdd", {"EmailAddress": "A+x@localhost"})
        self.assertEqual(response.json["Code"], "error")

    def test_bad_address(self) -> None:
        """Unparsable addresses are badAddress for every suppression method."""
        for name in ("SuppressionAdd", "SuppressionRemove", "SuppressionPresent"):
            response = self.webapi.call(name, {"EmailAddress": "nope"})
            self.assertEqual(response.json["Code"], "badAddress", name)
            self.assertTrue(response.json["Message"].startswith('parsing address "nope": '))

    def test_lists_per_account(self) -> None:
        """Another account's entries are not listed, present or removable."""
        self.webapi.call("SuppressionAdd", {"EmailAddress": "a@localhost"}, login="other@localhost")
        self.assertEqual(self.webapi.call("SuppressionList", {}).json, {"Suppressions": []})
        present = self.webapi.call("SuppressionPresent", {"EmailAddress": "a@localhost"})
        self.assertEqual(present.json, {"Present": False})
        response = self.webapi.call("SuppressionRemove", {"EmailAddress": "a@localhost"})
        self.assertEqual(response.json["Code"], "error")
