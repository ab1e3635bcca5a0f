from pathlib import Path

from reelcloud.launcher.datadir import DataDir


def test_long_data_dir_moves_the_control_socket_to_tmp():
    short = DataDir(Path("/tmp/rc"))
    assert short.control_socket == Path("/tmp/rc/launcher.sock")
    deep = DataDir(Path("/tmp/" + "x" * 120))
    assert len(str(deep.control_socket)) < 100
    assert deep.control_socket == DataDir(Path("/tmp/" + "x" * 120)).control_socket
