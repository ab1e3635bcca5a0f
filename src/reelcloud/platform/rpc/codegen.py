"""Generate Python stubs from `.proto` files with grpcio-tools.

`proto/` holds one `.proto` per service under `reelcloud/rpc/`; the build (hatch_build.py)
writes `src/reelcloud/rpc/<service>_pb2*.py` from them. Generated files are not committed and
never edited: change the `.proto` and rebuild (`pip install -e .`).
"""

from __future__ import annotations

from pathlib import Path


def generate(proto_root: Path, out_dir: Path) -> list[Path]:
    """Compile every .proto under `proto_root` (imports relative to it) into `out_dir`."""
    from grpc_tools import protoc

    protos = sorted(proto_root.rglob("*.proto"))
    if not protos:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {proto_root}")
    return sorted(out_dir.rglob("*_pb2*.py"))
