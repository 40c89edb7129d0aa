"""Tracking codes, form tokens with proof of work, attachments and fields: the pure parts."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from embassy.contact import codes
from embassy.contact.attachments import check_attachment, safe_name, sniff
from embassy.contact.errors import AttachmentError, CodeFormatError, FormTokenError, InvalidSubmissionError
from embassy.contact.guard import TOKEN_SECONDS, FormGuard, PowSettings, solve
from embassy.contact.model import check_submission

KEY = b"k" * 32


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), "blue").save(out, "JPEG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_a_code_has_80_random_bits_in_groups_of_four_and_a_check_character() -> None:
    code = codes.new_code()
    shown = codes.display(code)
    assert len(code) == 17 and set(code) <= set(codes.ALPHABET) and not set(code) & set("ILOU")
    assert [len(g) for g in shown.split("-")] == [4, 4, 4, 4, 1]
    assert len({codes.new_code() for _ in range(2000)}) == 2000
    assert codes.normalise(shown) == code
    assert codes.normalise(f"  {shown.lower().replace('-', ' ')} ") == code  # case, spaces, hyphens ignored


def test_crockford_lookalikes_are_read_and_u_is_not() -> None:
    symbols = "0123456789ABCDEF"
    code = symbols + codes.check_symbol(symbols)
    assert codes.normalise(code.replace("1", "l").replace("0", "O")) == code
    with pytest.raises(CodeFormatError):
        codes.normalise("U" * 17)


def test_every_single_mistyped_symbol_and_most_swaps_are_caught() -> None:
    code = codes.new_code()
    for i, ch in itertools.product(range(17), codes.ALPHABET):
        if code[i] != ch:
            with pytest.raises(CodeFormatError):
                codes.normalise(code[:i] + ch + code[i + 1 :])
    caught = 0
    for i in range(16):
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        if swapped != code:
            try:
                codes.normalise(swapped)
            except CodeFormatError:
                caught += 1
    assert caught >= sum(1 for i in range(16) if code[i] != code[i + 1]) - 1  # all but 0/G-like pairs


def test_a_form_token_is_ours_for_its_form_and_expires() -> None:
    guard = FormGuard(KEY, PowSettings(1, 4))
    token = guard.new_token("contact", now=1_000_000)
    assert guard.check("contact", token, "", now=1_000_100).proof_of_work is False
    with pytest.raises(FormTokenError, match="forged"):
        guard.check("case", token, "", now=1_000_100)  # another form's token
    with pytest.raises(FormTokenError, match="forged"):
        FormGuard(b"x" * 32, PowSettings(1, 4)).check("contact", token, "", now=1_000_100)
    with pytest.raises(FormTokenError, match="expired"):
        guard.check("contact", token, "", now=1_000_000 + TOKEN_SECONDS + 1)
    for bad in ("", "f1", "f1.x.y.z", token.replace("f1.", "f2."), token[:-2], "f1.1.AAAA.AAAA", "f1.²." + "a" * 20):
        with pytest.raises(FormTokenError):
            guard.check("contact", bad, "", now=1_000_100)


def test_a_proof_of_work_counts_once_solved_for_this_very_form() -> None:
    guard = FormGuard(KEY, PowSettings(1, 8))
    token = guard.new_token("contact")
    solution = solve(guard.challenge(token))
    assert guard.check("contact", token, solution).proof_of_work is True
    other = guard.new_token("contact")
    assert guard.check("contact", other, solution).proof_of_work is False  # bound to its form's nonce
    harder = FormGuard(KEY, PowSettings(2, 8))
    assert harder.check("contact", token, solution).proof_of_work is False  # not our cost
    for forged in ("", "bm9wZQ==", "x" * 5000, solution[:-8] + "AAAAAAAA"):
        assert guard.check("contact", token, forged).proof_of_work is False


def test_attachments_are_recognised_by_their_content() -> None:
    assert sniff(png()) == "image/png" and sniff(jpeg()) == "image/jpeg" and sniff(PDF) == "application/pdf"
    assert check_attachment("scan.exe", png()).name == "scan.png"  # the name never decides the type
    for data in (b"MZ\x90\x00" + b"\0" * 100, b"<script>alert(1)</script>", png()[:40], b"%PDF-1.4 no end",
                 b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, b"GIF89a" + b"\0" * 20):  # fmt: skip
        with pytest.raises(AttachmentError) as e:
            check_attachment("x.pdf", data)
        assert e.value.reason == "bad_type"
    with pytest.raises(AttachmentError, match="larger than 5 MiB"):
        check_attachment("big.pdf", PDF + b"0" * (5 << 20))


def test_path_tricks_in_attachment_names_are_harmless_labels() -> None:
    for name, wanted in (("../../etc/passwd", "passwd.pdf"), ("C:\\Windows\\evil.pdf", "evil.pdf"),
                         ("a\u202egnp.exe", "agnp.pdf"), ("..", "attachment.pdf"), ('"><b>x.pdf', "___b_x.pdf"),
                         ("x" * 300 + ".pdf", "x" * 96 + ".pdf"), ("\x00\x01.pdf", "__.pdf")):  # fmt: skip
        assert safe_name(name, "application/pdf") == wanted, name


def test_fields_are_checked_with_a_reason_for_each() -> None:
    ok = check_submission("consular", {"type": "passport", "email": "a@b.example", "message": "hello"})
    assert ok.priority == 1 and ok.type == "passport"
    assert check_submission("emergency", {"phone": "+7 700 1", "message": "help"}).priority == 0
    with pytest.raises(InvalidSubmissionError) as e:
        check_submission("consular", {"type": "rocket", "email": "not-an-email", "name": "x" * 201, "message": ""})
    assert e.value.problems == {"type": "invalid", "email": "invalid", "name": "too_long", "message": "missing"}
    with pytest.raises(InvalidSubmissionError) as e:
        check_submission("general", {"message": "no way to answer me"})
    assert e.value.problems == {"email": "no_reply_address"}
