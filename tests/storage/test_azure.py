"""The Azure Blob storage backend against a real Azure Blob API (Azurite on loopback)."""

from __future__ import annotations

import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from flowstone.errors import StorageError
from flowstone.settings import Settings
from flowstone.storage import make_storage
from flowstone.storage._azure_client import cut_blocks
from flowstone.storage._azure_config import AzureConfig, MiB
from flowstone.storage.azure import AzureStorage
from tests.servers._process import free_ports
from tests.servers.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, connection_string
from tests.storage.conformance import StorageTests

CONTAINER = "flowstone-test"
#: A key of the right shape that is not the account's.
WRONG_KEY = "A" * 86 + "=="


def _root() -> str:
    return f"azure://{CONTAINER}/storage-{uuid.uuid4().hex[:12]}"


def _small_blocks(**changes: object) -> AzureConfig:
    """A config that sends anything above 1 MiB as blocks of 1 MiB, so tests exercise blocks on small data."""
    return AzureConfig.from_settings(Settings.from_env(), single_put_max=MiB, block_size=MiB, **changes)


def _service(azurite: Azurite):  # type: ignore[no-untyped-def]
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite.connection_string)


class TestAzureStorage(StorageTests):
    @pytest.fixture
    def storage(self, azure_env: dict[str, str]) -> Iterator[AzureStorage]:
        storage = AzureStorage(_root(), settings=Settings.from_env())
        yield storage
        storage.close()


class TestAzureStorageInBlocks(StorageTests):
    """The whole contract again with every object above 1 MiB sent as staged blocks."""

    @pytest.fixture
    def storage(self, azure_env: dict[str, str]) -> Iterator[AzureStorage]:
        storage = AzureStorage(_root(), settings=Settings.from_env(), config=_small_blocks())
        yield storage
        storage.close()


def test_made_from_settings(azure_env: dict[str, str]) -> None:
    root = _root()
    storage = make_storage("azure", settings=Settings.from_env(default_datastore="azure", datastore_sysroot_azure=root))
    assert isinstance(storage, AzureStorage) and storage.root == root
    storage.save_one("k", b"v")
    assert bytes(storage.load_one("k")) == b"v"  # type: ignore[arg-type]


def test_pickles_without_its_connections(azure_env: dict[str, str]) -> None:
    storage = AzureStorage(_root(), settings=Settings.from_env())
    storage.save_one("k", b"v")
    copy = pickle.loads(pickle.dumps(storage))
    assert copy._transport is None  # nothing opened until first use
    assert copy.root == storage.root and bytes(copy.load_one("k")) == b"v"


def test_construction_and_unpickling_start_no_thread() -> None:
    """Tasks are forked from a process that must hold no client threads: nothing starts before first use."""
    code = (
        "import pickle, threading\n"
        "from flowstone.settings import Settings\n"
        "from flowstone.storage.azure import AzureStorage\n"
        "s = pickle.loads(pickle.dumps(AzureStorage('azure://some-container/prefix', Settings())))\n"
        "print(threading.active_count(), s._transport)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["1", "None"]


def test_a_dropped_storage_closes_its_connections(azure_env: dict[str, str]) -> None:
    """Storages used and dropped (as a client reading many flows does) leave no open session behind."""
    code = (
        "import gc\n"
        "from flowstone.settings import Settings\n"
        "from flowstone.storage.azure import AzureStorage\n"
        "for i in range(3):\n"
        f"    AzureStorage({_root()!r}, Settings.from_env()).save_one('k', b'v')\n"
        "    gc.collect()\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == "done\n", out.stderr
    assert "Unclosed" not in out.stderr, out.stderr


def test_prefixes_do_not_leak_into_each_other(azure_env: dict[str, str]) -> None:
    one, other = AzureStorage(_root(), Settings.from_env()), AzureStorage(_root(), Settings.from_env())
    one.save_one("a/x", b"1")
    assert other.load_one("a/x") is None and other.list_content("") == []


@pytest.mark.parametrize(
    "root", ["azure://", "azure:///prefix-only", "azure://Upper/x", "azure://ab/x", "azure://a--b/x", "s3://bucket/x"]
)
def test_bad_roots_are_refused(root: str) -> None:
    with pytest.raises(StorageError, match="azure://container/prefix"):
        AzureStorage(root, settings=Settings())


def test_metaflow_style_root_without_scheme() -> None:
    storage = AzureStorage("my-container/some/prefix/", settings=Settings())
    assert (storage.container, storage.prefix, storage.root) == ("my-container", "some/prefix",
                                                                 "azure://my-container/some/prefix")  # fmt: skip


def test_large_blob_goes_up_as_blocks_from_chunks(azure_env: dict[str, str], azurite: Azurite) -> None:
    """Above single_put_max, a payload is cut into blocks (views of its chunks, joined only across chunk edges)
    and committed once; a generator payload is read as it is sent."""
    storage = AzureStorage(_root(), Settings.from_env(), config=_small_blocks())
    chunks = [b"h" * 16, bytes(range(256)) * (10 << 10), memoryview(b"t" * (MiB + 5))]  # ~3.5 MiB, 3 chunks
    expected = b"".join(bytes(c) for c in chunks)
    assert storage.put_if_absent("big", chunks) is True
    assert storage.put_if_absent("big", (b"other" for _ in range(400_000))) is False  # present: left alone
    assert bytes(storage.load_one("big")) == expected  # type: ignore[arg-type]
    blob = _service(azurite).get_blob_client(CONTAINER, f"{storage.prefix}/big")
    committed, uncommitted = blob.get_block_list("all")
    assert [b.size for b in committed] == [MiB, MiB, MiB, len(expected) - 3 * MiB] and not uncommitted
    storage.save_one("generated", (bytes([i]) * (MiB // 2) for i in range(5)))  # 2.5 MiB from a generator
    assert bytes(storage.load_one("generated")) == b"".join(bytes([i]) * (MiB // 2) for i in range(5))  # type: ignore[arg-type]
    assert storage.save_bytes([("big", [b"x"] * 3), ("small", [b"a", b"b"])], overwrite=False) == [False, True]


def test_large_put_if_absent_has_one_winner_whose_blocks_are_not_mixed(azure_env: dict[str, str]) -> None:
    storage = AzureStorage(_root(), Settings.from_env(), config=_small_blocks())
    payloads = [bytes([i]) * (3 * MiB + 100) for i in range(4)]
    barrier = threading.Barrier(len(payloads))
    results: dict[int, bool] = {}

    def contend(i: int) -> None:
        barrier.wait()
        results[i] = storage.put_if_absent("contended", payloads[i])

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert bytes(storage.load_one("contended")) == payloads[winners[0]]  # type: ignore[arg-type]


def test_cut_blocks_copies_only_across_chunk_edges() -> None:
    data = memoryview(bytes(range(256)) * 64)  # 16 KiB
    blocks = list(cut_blocks(iter([data[:10], data[10:9000], data[9000:]]), 4096))
    assert b"".join(bytes(b) for b in blocks) == bytes(data)
    assert [len(b) for b in blocks] == [4096, 4096, 4096, 4096]
    assert [isinstance(b, memoryview) for b in blocks] == [False, True, False, True]  # 2nd and 4th: plain views
    assert list(cut_blocks(iter([]), 4096)) == []


def test_transient_failures_are_retried(azure_env: dict[str, str]) -> None:
    config = _small_blocks(inject_failures=0.5, backoff=0.01, seed=3)
    storage = AzureStorage(_root(), Settings.from_env(), config=config)
    items = [(f"k/{i}", bytes([i]) * 100) for i in range(20)] + [("k/big", b"B" * (3 * MiB))]
    assert storage.save_bytes(items) == [True] * len(items)
    assert dict((k, bytes(v or b"")) for k, v in storage.load_bytes([k for k, _ in items])) == dict(items)
    assert [e.name for e in storage.list_content("k")][:2] == ["0", "1"]
    stats = storage.transport.stats
    assert stats.injected_failures > 10 and stats.retries >= stats.injected_failures


def test_a_killed_upload_leaves_no_visible_blob(azure_env: dict[str, str], azurite: Azurite) -> None:
    """A process killed (SIGKILL) in the middle of a block upload leaves staged blocks, never a blob."""
    root = _root()
    code = (
        "import sys\n"
        "from flowstone.storage._azure_config import AzureConfig, MiB\n"
        "from flowstone.settings import Settings\n"
        "from flowstone.storage.azure import AzureStorage\n"
        "config = AzureConfig.from_settings(Settings.from_env(), single_put_max=MiB, block_size=MiB,\n"
        "                                   block_concurrency=1)\n"
        "def payload():\n"
        "    for i in range(64):\n"
        "        if i == 4:\n"
        "            print('uploading', flush=True)\n"
        "            sys.stdin.read()  # hold still until killed\n"
        "        yield bytes([i]) * MiB\n"
        f"AzureStorage({root!r}, Settings.from_env(), config=config).put_if_absent('dir/partial', payload())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"uploading\n"  # blocks 0-2 are staged
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    storage = AzureStorage(root, Settings.from_env())
    assert not storage.exists("dir/partial") and storage.load_one("dir/partial") is None
    assert storage.list_content("dir") == [] and storage.list_content("") == []
    blob = _service(azurite).get_blob_client(CONTAINER, f"{storage.prefix}/dir/partial")
    _, uncommitted = blob.get_block_list("uncommitted")
    assert len(uncommitted) >= 2  # the upload was under way: its blocks are there, invisible


def test_missing_container_is_a_clear_error(azure_env: dict[str, str]) -> None:
    storage = AzureStorage("azure://no-such-container/x", Settings.from_env())
    with pytest.raises(StorageError, match="no-such-container") as err:
        storage.save_one("k", b"v")
    assert "does not exist" in str(err.value) and ACCOUNT in str(err.value)


def test_unreachable_endpoint_fails_fast_and_names_account_and_container(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_ports(1)[0]}/{ACCOUNT}"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(endpoint))
    storage = AzureStorage(_root(), settings=Settings())
    start = time.monotonic()
    with pytest.raises(StorageError) as err:
        storage.load_one("k")
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert ACCOUNT in message and CONTAINER in message and endpoint in message and "cannot be reached" in message
    assert ACCOUNT_KEY not in message and "AccountKey" not in message


def test_wrong_key_fails_fast_and_shows_no_key(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(azurite.endpoint, WRONG_KEY))
    storage = AzureStorage(_root(), settings=Settings())
    for operation in (lambda: storage.save_one("k", b"v"), lambda: storage.list_content(""),
                      lambda: storage.exists("k")):  # fmt: skip
        start = time.monotonic()
        with pytest.raises(StorageError) as err:
            operation()
        assert time.monotonic() - start < 10
        message = str(err.value)
        assert "403" in message and ACCOUNT in message and CONTAINER in message and "credentials" in message
        assert WRONG_KEY not in message and ACCOUNT_KEY not in message
    assert WRONG_KEY not in repr(storage.transport.config) and WRONG_KEY not in repr(storage)


def test_account_key_and_endpoint_from_the_environment(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("FLOWSTONE_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT", azurite.endpoint)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_KEY", ACCOUNT_KEY)
    storage = AzureStorage(_root(), Settings.from_env())
    storage.save_one("k", b"v")
    assert bytes(storage.load_one("k")) == b"v"  # type: ignore[arg-type]


def test_sas_token_from_the_environment(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    token = generate_container_sas(ACCOUNT, CONTAINER, account_key=ACCOUNT_KEY,
                                   permission=ContainerSasPermissions(read=True, write=True, list=True, create=True),
                                   expiry=datetime.now(timezone.utc) + timedelta(hours=1))  # fmt: skip
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("FLOWSTONE_AZURE_STORAGE_BLOB_SERVICE_ENDPOINT", azurite.endpoint)
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", token)
    storage = AzureStorage(_root(), Settings.from_env())
    storage.save_one("d/k", b"v")
    assert bytes(storage.load_one("d/k")) == b"v" and [e.name for e in storage.list_content("d")] == ["k"]  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="403") as err:  # the token may not delete
        storage.delete(["d/k"])
    assert token not in str(err.value) and "sig=" not in str(err.value).replace("sig=***", "")


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("azure.storage.blob")
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("azure-identity is installed: DefaultAzureCredential would be used")
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "someaccount")
    with pytest.raises(StorageError, match=r"AZURE_STORAGE_CONNECTION_STRING.*azure-identity"):
        AzureStorage(_root(), Settings.from_env()).exists("k")


def test_config_from_the_environment_hides_secrets() -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string("http://127.0.0.1:1/devstoreaccount1")}
    config = AzureConfig.from_settings(Settings(), env)
    assert (config.account_name, config.endpoint) == (ACCOUNT, "http://127.0.0.1:1/devstoreaccount1")
    assert ACCOUNT_KEY not in repr(config) and config.scrub(f"x {ACCOUNT_KEY} y") == "x *** y"
    cloud = AzureConfig.from_settings(Settings(), {"AZURE_STORAGE_ACCOUNT": "acct", "AZURE_STORAGE_KEY": "k2"})
    assert (cloud.account_name, cloud.endpoint) == ("acct", "https://acct.blob.core.windows.net")
    from_cs = AzureConfig.from_settings(
        Settings(), {"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k3"}
    )
    assert from_cs.endpoint == "https://acct.blob.core.windows.net"
    assert cloud.scrub("https://a/b?sv=1&sig=abc%2F&se=2") == "https://a/b?sv=1&sig=***&se=2"


def test_a_forked_child_opens_its_own_clients(azure_env: dict[str, str]) -> None:
    storage = AzureStorage(_root(), Settings.from_env())
    storage.save_one("parent", b"p")  # the parent's loop thread and clients now exist
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's loop thread is gone; it must work all the same
        status = 1
        try:
            storage.save_one("child", b"c")
            status = 0 if bytes(storage.load_one("parent")) == b"p" else 2  # type: ignore[arg-type]
        finally:
            os.write(write, bytes([status]))
            os._exit(status)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 30)  # the child reports (or dies: then reads b"")
        if not ready:
            os.kill(pid, signal.SIGKILL)
        status = os.read(read, 1) if ready else b"hung"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert status == b"\0"
    assert bytes(storage.load_one("child")) == b"c"  # type: ignore[arg-type]
