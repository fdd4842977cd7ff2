"""The firewall is the one door to protected records (shared/docs/architecture.md, "The
firewall" 4 and 5): walking the source, no module outside mash_hub/firewall loads a
protected record by id, selects protected rows, builds a policy resource, or calls the key
hierarchy to open or seal case content.

"Protected" is worked out, not listed: every model that holds sealed case content (a
`*_sealed` column) and every record type in the firewall's registry. Identity's own secrets
(TOTP seeds) are not case content and are sealed by identity itself; nor are the other
secrets registered with `crypto.resealing` (webhook signing secrets).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import mash_hub
from mash_hub.crypto import resealing
from mash_hub.db import Base
from mash_hub.firewall import records
from mash_hub.models import firewall_tables
from mash_hub.outbox import webhooks  # noqa: F401 - registers its secrets with resealing

PACKAGE = Path(mash_hub.__file__).parent
# The key hierarchy itself (wrapping, rotation, shredding) is crypto's own work.
KERNEL = ("firewall", "crypto", "policy")


def protected_models() -> dict[str, type]:
    records.install(firewall_tables())  # as the app factory does
    registered = records.registry()
    found: dict[str, type] = {}
    for mapper in Base.registry.mappers:
        model = mapper.class_
        if model.__module__.startswith("mash_hub.identity"):
            continue
        sealed = {
            f"{mapper.local_table.name}.{column.key}"
            for column in mapper.columns
            if column.key.endswith("_sealed")
        }
        # A secret the hub seals under a key derived from the master key, registered to be
        # re-sealed at a master rotation (a webhook's signing secret), is not case content.
        sealed -= set(resealing.registered())
        if sealed or model in registered:
            found[model.__name__] = model
    return found


@dataclass(frozen=True)
class Breach:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _module_names(tree: ast.Module, wanted: dict[str, type]) -> dict[str, str]:
    """Local names bound by `from mash_hub... import X` to protected models or resources."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mash_hub"):
            for alias in node.names:
                if alias.name in wanted or alias.name.endswith("Resource"):
                    names[alias.asname or alias.name] = alias.name
    return names


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def breaches_in(path: Path, wanted: dict[str, type]) -> list[Breach]:
    tree = ast.parse(path.read_text(), str(path))
    names = _module_names(tree, wanted)
    where = str(path.relative_to(PACKAGE.parent))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "mash_hub.crypto.keys":
            imported = {alias.name for alias in node.names} & {"encrypt", "decrypt"}
            if imported:
                found.append(Breach(f"{where}:{node.lineno}", f"imports {sorted(imported)}"))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        line = f"{where}:{node.lineno}"
        is_key_call = isinstance(func, ast.Attribute) and func.attr in ("encrypt", "decrypt")
        if is_key_call and _root_name(func) == "keys":
            found.append(Breach(line, f"calls keys.{func.attr}"))
        if isinstance(func, ast.Name) and func.id in names and names[func.id].endswith("Resource"):
            found.append(Breach(line, f"builds a policy resource {names[func.id]}"))
        # Whole records: `db.get(Model, id)`, and `select(...)` naming a Model among what
        # it selects. Selecting an id or a date column to filter or count carries no
        # sealed content.
        models = [
            names[arg.id]
            for arg in node.args
            if isinstance(arg, ast.Name) and names.get(arg.id) in wanted
        ]
        if not models:
            continue
        first = node.args[0]
        by_id = isinstance(first, ast.Name) and names.get(first.id) in wanted
        if isinstance(func, ast.Attribute) and func.attr == "get" and by_id:
            found.append(Breach(line, f"gets a {models[0]} by id"))
        if isinstance(func, ast.Name) and func.id == "select":
            found.append(Breach(line, f"selects {', '.join(models)} rows"))
    return found


def all_breaches() -> list[Breach]:
    wanted = protected_models()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if parts[0] in KERNEL or path.name == "models.py":
            continue
        found.extend(breaches_in(path, wanted))
    return found


def test_protected_models_are_worked_out_from_the_schema():
    names = set(protected_models())
    # Content-bearing tables of every domain, and the registry's own types.
    assert {"Contact", "ContactSubject", "InfoRequest", "ContributionItem", "Person"} <= names
    assert {model.__name__ for model in records.registry()} <= names
    assert "User" not in names  # identity's secrets are not case content


def test_the_walk_finds_a_planted_breach(tmp_path):
    planted = PACKAGE / "contacts" / "_planted_breach_for_test.py"
    planted.write_text(
        "from mash_hub.contacts.models import Contact\n"
        "from mash_hub.crypto import keys\n"
        "from mash_hub.policy import ContactResource\n"
        "def leak(db, cid):\n"
        "    row = db.get(Contact, cid)\n"
        "    ContactResource(cid, 'none', 'open')\n"
        "    return keys.decrypt(db, envelope=row.concern_sealed)\n"
    )
    try:
        found = [b.what for b in all_breaches() if "_planted_breach_for_test" in b.where]
    finally:
        planted.unlink()
    assert found == [
        "gets a Contact by id",
        "builds a policy resource ContactResource",
        "calls keys.decrypt",
    ]


def test_no_module_outside_the_firewall_opens_protected_records():
    breaches = all_breaches()
    assert not breaches, "outside the firewall:\n" + "\n".join(map(str, breaches))
