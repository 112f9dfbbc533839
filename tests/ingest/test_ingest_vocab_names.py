"""Names learned from prose: a carrier named only in notes becomes its code's synonym by the orders it stands
beside; a word beside many carriers, or seen too rarely, never does."""

from __future__ import annotations

from pathlib import Path

from ingest.vocabulary import learn_vocabulary
from tests.ingest.tenants import write


def _tenant(root: Path) -> Path:
    write(root, "orders.csv", "order,site,carrier,tracking\n"
          "5001,NO-OSL,GLX,GLX100\n5002,SE-GOT,GLX,GLX101\n5003,SE-GOT,FJD,FJD200\n5004,SE-GOT,FJD,FJD201\n"
          "5005,NO-OSL,GLX,GLX102\n")
    write(root, "notes.md", "# Shift notes\n\n"
          "Order 5000 left late. Galaxa Cargo collected order 5001 at noon; Floor swept.\n"
          "Galaxa Cargo scanned order 5002 twice. Order 5003 went with Fjord Line, Floor swept.\n"
          "Galaxa Cargo lost the label of order 5005. Fjord Line picked up order 5004 on time.\n"
          "Oslo notes: NO-OSL dock 2 closed. Oslo notes: NO-OSL dock 3 open. Oslo notes: NO-OSL fine.\n")
    return root


def test_a_name_beside_one_carriers_orders_becomes_its_synonym(tmp_path: Path) -> None:
    vocab = learn_vocabulary(_tenant(tmp_path))
    glx = vocab.resolve("Galaxa Cargo")
    assert glx is not None and (glx.kind, glx.canonical) == ("carrier", "GLX")
    oslo = vocab.resolve("Oslo")
    assert oslo is not None and (oslo.kind, oslo.canonical) == ("facility", "NO-OSL")


def test_a_word_beside_several_carriers_or_seen_twice_is_no_name(tmp_path: Path) -> None:
    vocab = learn_vocabulary(_tenant(tmp_path))
    assert vocab.resolve("Floor") is None  # beside GLX once and FJD once
    assert vocab.resolve("Fjord Line") is None  # two sentences: too few to trust


def test_a_name_beside_one_carrier_and_one_site_alike_is_no_name(tmp_path: Path) -> None:
    root = _tenant(tmp_path)
    write(root, "orders.csv", "order,site,carrier,tracking\n5001,NO-OSL,GLX,GLX100\n5002,NO-OSL,GLX,GLX101\n"
          "5003,SE-GOT,FJD,FJD200\n5004,SE-GOT,FJD,FJD201\n5005,NO-OSL,GLX,GLX102\n")
    assert learn_vocabulary(root).resolve("Galaxa Cargo") is None
