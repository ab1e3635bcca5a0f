"""Build hook: generate gRPC stubs from proto/ into src/reelcloud/rpc/ before every build,
editable installs included. The stubs are build output: not committed, never edited."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProtoStubsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        # Load codegen.py by path: importing the package would need its runtime dependencies,
        # which the isolated build environment does not have.
        path = root / "src" / "reelcloud" / "platform" / "rpc" / "codegen.py"
        spec = importlib.util.spec_from_file_location("reelcloud_codegen", path)
        assert spec is not None
        assert spec.loader is not None
        codegen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(codegen)
        generated = codegen.generate(root / "proto", root / "src")
        build_data.setdefault("artifacts", []).extend(
            str(path.relative_to(root)) for path in generated
        )
