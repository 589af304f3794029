from __future__ import annotations

from pathlib import Path

import pytest

from flowstone.errors import FlowstoneException
from flowstone.settings import Settings, find_local_root
from flowstone.storage import make_storage


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.default_datastore == "local" and s.fsync is True and s.inline_max_bytes == 1024


def test_from_env_parses_types() -> None:
    s = Settings.from_env(
        {
            "FLOWSTONE_DEFAULT_DATASTORE": "memory",
            "FLOWSTONE_DATASTORE_SYSROOT_LOCAL": "/x",
            "FLOWSTONE_FSYNC": "0",
            "FLOWSTONE_INLINE_MAX_BYTES": "10",
            "FLOWSTONE_COMPRESS_RATIO_THRESHOLD": "0.5",
        }
    )
    assert (s.default_datastore, s.datastore_sysroot_local, s.fsync) == ("memory", "/x", False)
    assert (s.inline_max_bytes, s.compress_ratio_threshold) == (10, 0.5)


def test_overrides_win_over_env() -> None:
    s = Settings.from_env({"FLOWSTONE_DATASTORE_SYSROOT_LOCAL": "/env"}, datastore_sysroot_local="/cli")
    assert s.datastore_sysroot_local == "/cli"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().fsync = False  # type: ignore[misc]


def test_unknown_datastore_type() -> None:
    with pytest.raises(FlowstoneException, match="Unknown datastore type 'ftp'"):
        Settings.from_env({"FLOWSTONE_DEFAULT_DATASTORE": "ftp"})


def test_local_root_is_found_walking_up(tmp_path: Path) -> None:
    (tmp_path / ".flowstone").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_local_root(deep) == str(tmp_path / ".flowstone")


def test_local_root_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_local_root() == str(tmp_path.resolve() / ".flowstone")
    assert Settings().datastore_root() == str(tmp_path.resolve() / ".flowstone")


def test_missing_remote_root_says_what_to_set() -> None:
    with pytest.raises(FlowstoneException, match="FLOWSTONE_DATASTORE_SYSROOT_S3"):
        Settings().datastore_root("s3")


def test_make_storage_unknown_and_memory() -> None:
    assert make_storage("memory", Settings()).TYPE == "memory"
    with pytest.raises(FlowstoneException, match="Unknown datastore type"):
        make_storage("ftp", Settings())


def test_datastore_type_of_root() -> None:
    from flowstone.settings import datastore_type_of_root

    assert datastore_type_of_root("s3://bucket/prefix") == "s3"
    assert datastore_type_of_root("azure://container/prefix") == "azure"
    assert datastore_type_of_root("/some/path") is None and datastore_type_of_root(None) is None


def test_current_settings_are_the_environments_outside_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowstone.settings import current_settings, use_settings

    monkeypatch.setenv("FLOWSTONE_INLINE_MAX_BYTES", "7")
    assert current_settings().inline_max_bytes == 7
    run_settings = Settings(inline_max_bytes=99)
    with use_settings(run_settings):  # as the runtime does while a task runs
        assert current_settings() is run_settings
    assert current_settings().inline_max_bytes == 7


def test_settings_name_their_datastore_for_child_processes(tmp_path: Path) -> None:
    local = Settings(datastore_sysroot_local=str(tmp_path))
    assert local.datastore_environ() == {
        "FLOWSTONE_DEFAULT_DATASTORE": "local",
        "FLOWSTONE_DATASTORE_SYSROOT_LOCAL": str(tmp_path),
    }
    assert Settings(default_datastore="memory").datastore_environ() == {}


def test_the_user_is_found_as_metaflow_finds_it() -> None:
    from flowstone.settings import resolve_username

    assert resolve_username({"USER": "ada"}) == "ada"
    assert resolve_username({"USERNAME": "grace", "USER": "ada"}) == "grace"
    assert resolve_username({"SUDO_USER": "linus", "USERNAME": "grace"}) == "linus"
    assert resolve_username({"METAFLOW_USER": "mf", "SUDO_USER": "linus"}) == "mf"
    assert resolve_username({"FLOWSTONE_USER": "fs", "METAFLOW_USER": "mf"}) == "fs"
    assert resolve_username({"USER": "root"}) is None  # root names no one
    assert resolve_username({"METAFLOW_USER": "root", "USER": "ada"}) == "ada"
    assert resolve_username({}) is None


def test_metaflows_variables_are_used_where_flowstones_are_unset(tmp_path: Path) -> None:
    env = {
        "METAFLOW_DATASTORE_SYSROOT_S3": "s3://bucket/mf",
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path),
    }
    settings = Settings.from_env(env)
    assert settings.default_datastore == "s3" and settings.datastore_root() == "s3://bucket/mf"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.datastore_root("local") == str(tmp_path / ".flowstone")  # Metaflow's root holds the folder
    ours = Settings.from_env({**env, "FLOWSTONE_DATASTORE_SYSROOT_S3": "s3://bucket/fs"})
    assert ours.datastore_root("s3") == "s3://bucket/fs"  # flowstone's own variable wins


def test_a_metaflow_profile_file_is_read(tmp_path: Path) -> None:
    import json

    from flowstone.errors import ConfigurationError
    from flowstone.settings import resolve_username

    (tmp_path / "config_team.json").write_text(json.dumps(
        {"METAFLOW_DATASTORE_SYSROOT_S3": "s3://team/root", "METAFLOW_USER": "grace"}))  # fmt: skip
    env = {"METAFLOW_HOME": str(tmp_path), "METAFLOW_PROFILE": "team"}
    assert Settings.from_env(env).datastore_sysroot_s3 == "s3://team/root"
    assert resolve_username(env) == "grace"
    assert Settings.from_env({**env, "METAFLOW_DATASTORE_SYSROOT_S3": "s3://env/wins"}).datastore_sysroot_s3 == (
        "s3://env/wins"
    )
    with pytest.raises(ConfigurationError, match=r"config_nobody\.json does not exist"):
        Settings.from_env({**env, "METAFLOW_PROFILE": "nobody"})


def test_a_bad_value_names_its_variable() -> None:
    from flowstone.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="FLOWSTONE_INLINE_MAX_BYTES='lots' is not valid: it must be a number"):
        Settings.from_env({"FLOWSTONE_INLINE_MAX_BYTES": "lots"})
    with pytest.raises(ConfigurationError, match="METAFLOW_DEFAULT_DATASTORE"):
        Settings.from_env({"METAFLOW_DEFAULT_DATASTORE": "gs"})
