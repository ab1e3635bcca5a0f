"""The platform library must not depend on any service; services only on the platform."""

import ast
from pathlib import Path

import reelcloud

PACKAGE = Path(reelcloud.__file__).parent
SERVICE_PACKAGES = {"registry", "gateway", "apis", "services", "openconnect", "pipeline"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_platform_imports_no_service_package():
    offenders = []
    for path in (PACKAGE / "platform").rglob("*.py"):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "reelcloud" and len(parts) > 1 and parts[1] in SERVICE_PACKAGES:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offenders == []


def test_registry_imports_only_the_platform_and_itself():
    offenders = []
    for path in (PACKAGE / "registry").rglob("*.py"):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "reelcloud" and parts[1:2] not in (["platform"], ["registry"]):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offenders == []
