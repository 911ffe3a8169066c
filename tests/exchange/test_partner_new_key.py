"""A partner that makes a new key (its old one lost, or replaced on purpose) while our directory
lists only the old: its sync failed saying ``partner 310000: checkpoint rejected: no signature
by a known key (<the old key>)``, naming the key we hold and not the one the checkpoint is
signed by, nor what to do. And the partner went on serving the checkpoint its old key had
signed until its log grew or the checkpoint interval (300 s) passed, so a partner that had
listed the new key alone refused it meanwhile. Now a bureau signs its checkpoint again as soon
as the one it has is not signed by its key; and the refusal names the key it is signed by and,
when that key bears the partner's own name, says to ask its operators for the new verifier
key and add it to the partner's entry; nothing applied, the cursor unmoved. Listing both
keys, the sync resumes; listing the new one alone (the old one revoked), the next sync goes on
from the cursor. Over real HTTP on loopback (Shanghai's feed served, its key replaced between
syncs); SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from exchange.directory import load_directory
from exchange.keys import load_or_create
from exchange.sync import sync_partner
from tests.exchange.bureaus import make_bureau, publish, served, write_directory

CODES = [f"91310100MA{i:07d}X" for i in range(5)]


def test_a_partner_with_a_new_key_is_refused_saying_which_and_what_to_do(
    engine: sa.Engine, tmp_path: Path
) -> None:
    sh = make_bureau(tmp_path, "310000")
    fj = make_bureau(tmp_path / "unused", "350000")  # us, in Shanghai's directory
    fj.key, fj.base_url = load_or_create(), "http://fj.test"
    write_directory(sh.home / "partners.toml", [fj])
    for i in range(3):
        publish(sh, CODES[i], n=i)
    directory = tmp_path / "home" / "partners.toml"
    with served(sh) as url:
        sh.base_url = url
        write_directory(directory, [sh])
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.after) == ("ok", 3), out
        old = sh.key.public.text
        for f in (sh.home / "keys").iterdir():  # Shanghai loses its key: a new one is made
            f.rename(tmp_path / f.name)
        new = load_or_create(sh.home / "keys", "310000").public
        # its log has not grown: it signs its checkpoint again, by the new key, at once
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.applied, out.before, out.after) == ("failed", 0, 3, 3), out
        assert out.error == (
            f"partner 310000: checkpoint rejected: no signature by a known key ({old}); "
            f"signed by shuangsui.310000+{new.key_id}: if 310000 has made a new key, ask its "
            "operators for its verifier key (`shuangsui partners keygen` there prints it) and "
            "add it to keys of its [[partner]] entry in the partner directory"
        ), out.error
        text = directory.read_text(encoding="utf-8")
        directory.write_text(text.replace(f'["{old}"]', f'["{old}", "{new.text}"]'), "utf-8")
        publish(sh, CODES[3], n=3)
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 4, 1), out
        directory.write_text(text.replace(old, new.text), "utf-8")  # the old one revoked
        publish(sh, CODES[4], n=4)
        out = sync_partner(engine, load_directory()["310000"], timeout=10)
        assert (out.status, out.before, out.after, out.applied) == ("ok", 4, 5, 1), out
