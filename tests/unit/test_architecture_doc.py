"""docs/ARCHITECTURE.md names every module of the product, so that a reader finds each one's
job there: a module added without a line in its table fails here."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("proto", "router", "node", "slotraft", "chaos")


def test_every_module_is_in_the_architecture_doc() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__init__.py" or path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            relative = path.relative_to(ROOT).as_posix()
            # A table row may name several modules of one directory by their file names.
            named = (relative, f"`{path.name}`", f" {path.name}")
            if not any(name in text for name in named):
                missing.append(relative)
    assert not missing, f"modules without a line in docs/ARCHITECTURE.md: {missing}"
