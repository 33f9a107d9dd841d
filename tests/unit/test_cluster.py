"""hub/cluster on SQLite: the lease (expiry, renewal, takeover), leadership, the version watcher
and the shared rate limits, with two "replicas" (two session factories) on one database file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from hub.cluster.leader import Leadership
from hub.cluster.lease import Lease
from hub.cluster.ratelimit_store import DatabaseRateLimiter, bucket_key
from hub.cluster.runtime import start_cluster, stop_cluster
from hub.cluster.slots import NoFreeSlotError, claim_slot, release_slots
from hub.cluster.state_versions import bump, image_index_name, read
from hub.cluster.watcher import VersionWatcher, listen_dsn
from hub.db import SessionFactory, create_engine, create_session_factory
from hub.settings import HubSettings
from hub.tables import LeaseRow, RateLimitBucket, StateVersion
from innsight.cli import build_parser

TABLES = [StateVersion.__table__, RateLimitBucket.__table__, LeaseRow.__table__]  # type: ignore[attr-defined]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def replicas(path: Path, count: int = 2) -> AsyncIterator[list[SessionFactory]]:
    """``count`` engines (as separate processes would have) on one SQLite file."""
    url = f"sqlite+aiosqlite:///{path / 'hub.db'}"
    engines = [create_engine(url) for _ in range(count)]
    async with engines[0].begin() as conn:
        await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=TABLES))
    try:
        yield [create_session_factory(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


def run(tmp_path: Path, body: Callable[[list[SessionFactory]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with replicas(tmp_path) as sessions:
            await body(sessions)

    asyncio.run(main())


def test_lease_expiry_renewal_takeover_release(tmp_path: Path) -> None:
    clock = Clock()

    async def body(sessions: list[SessionFactory]) -> None:
        a = Lease(sessions[0], "job", ttl_s=10, holder="a", clock=clock)
        b = Lease(sessions[1], "job", ttl_s=10, holder="b", clock=clock)
        assert await a.acquire()
        assert not await b.acquire()  # held and not expired
        first = await a.state()
        assert first is not None
        assert (first.holder, first.expires_at) == ("a", clock.now + 10)
        clock.now += 8
        assert await a.renew()  # renewal: a longer lease, the same tenure
        renewed = await a.state()
        assert renewed is not None
        assert (renewed.expires_at, renewed.acquired_at) == (clock.now + 10, first.acquired_at)
        clock.now += 9
        assert not await b.acquire()  # 17 s after the start: still a's (renewed at 8 s)
        clock.now += 2
        assert await b.acquire()  # expired: taken over
        taken = await b.state()
        assert taken is not None
        assert (taken.holder, taken.acquired_at) == ("b", clock.now)
        assert not await a.renew()  # a lost it, and cannot renew someone else's lease
        assert not await a.release()
        assert await b.release()
        assert await b.state() is None
        assert await a.acquire()  # free again

    run(tmp_path, body)


def test_one_leader_runs_the_jobs_and_another_takes_over(tmp_path: Path) -> None:
    async def body(sessions: list[SessionFactory]) -> None:
        ran: list[str] = []
        leaders = []
        for name, factory in zip("ab", sessions, strict=True):
            leadership = Leadership(Lease(factory, "leader", ttl_s=1.5, holder=name))

            async def job(name: str = name) -> None:
                ran.append(name)

            leadership.add_job("catch_up", job)
            leaders.append(leadership)
        a, b = leaders
        await a.start()
        await b.start()
        assert (a.is_leader(), b.is_leader(), ran) == (True, False, ["a"])
        await asyncio.sleep(0.8)  # a renews (every 0.5 s), b keeps trying
        assert (a.is_leader(), b.is_leader(), ran) == (True, False, ["a"])
        await a.stop()  # releases: b takes over at its next try and runs the jobs once
        for _ in range(100):
            if b.is_leader() and ran == ["a", "b"]:
                break
            await asyncio.sleep(0.02)
        assert (a.is_leader(), b.is_leader(), ran) == (False, True, ["a", "b"])
        assert b.jobs_run == {"catch_up": 1}
        await b.stop()

    run(tmp_path, body)


def test_versions_are_followed_by_the_other_replica(tmp_path: Path) -> None:
    async def body(sessions: list[SessionFactory]) -> None:
        assert await bump(sessions[0], "gallery") == 1
        watcher = VersionWatcher(sessions[1], poll_s=0.05)
        seen: list[tuple[str, int]] = []
        arrived = asyncio.Event()

        async def on_gallery(name: str, version: int) -> None:
            seen.append((name, version))
            arrived.set()

        watcher.on_change(on_gallery, prefix="gallery")
        await watcher.start()  # what is there at start is taken as seen
        try:
            assert watcher.seen() == {"gallery": 1}
            await bump(sessions[0], image_index_name("room"))  # not subscribed: no call
            assert await bump(sessions[0], "gallery") == 2
            await asyncio.wait_for(arrived.wait(), 5)  # the poll loop found it
            assert seen == [("gallery", 2)]
            assert await read(sessions[1]) == {"gallery": 2, "image_index:room": 1}
        finally:
            await watcher.stop()

    run(tmp_path, body)


def test_a_replica_does_not_reload_its_own_change_unless_it_missed_one(tmp_path: Path) -> None:
    async def body(sessions: list[SessionFactory]) -> None:
        local = VersionWatcher(sessions[0], poll_s=60)
        calls: list[int] = []

        async def reload(_name: str, version: int) -> None:
            calls.append(version)

        local.on_change(reload)
        await local.start()
        try:
            local.note_local("gallery", await bump(sessions[0], "gallery"))
            assert await local.check() == []  # its own change: nothing to reload
            await bump(sessions[1], "gallery")  # another replica's change (2) ...
            local.note_local("gallery", await bump(sessions[0], "gallery"))  # ... then ours (3)
            assert await local.check() == ["gallery"]
            assert calls == [3]
        finally:
            await local.stop()

    run(tmp_path, body)


def test_listen_dsn_only_for_postgresql() -> None:
    assert listen_dsn("sqlite+aiosqlite:///x.db") is None
    assert listen_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_rate_limit_is_shared_by_the_replicas(tmp_path: Path) -> None:
    clock = Clock()

    async def body(sessions: list[SessionFactory]) -> None:
        a, b = (
            DatabaseRateLimiter(factory, "recognise", per_minute=6, burst=3, clock=clock)
            for factory in sessions
        )
        assert [await a.hit("caller"), await b.hit("caller"), await a.hit("caller")] == [0] * 3
        assert await b.hit("caller") == pytest.approx(10.0)  # the burst is spent on both
        assert await a.hit("someone else") == 0.0
        clock.now += 10  # one interval: one request
        assert await b.hit("caller") == 0.0
        assert await a.hit("caller") == pytest.approx(10.0)
        clock.now += 35
        assert [await a.hit("caller") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert await b.hit("caller") > 0
        assert bucket_key("recognise", "10.0.0.1") != bucket_key("recognise", "10.0.0.2")
        assert "10.0.0.1" not in bucket_key("recognise", "10.0.0.1")

    run(tmp_path, body)


def test_serve_workers_claim_distinct_slots(tmp_path: Path) -> None:
    try:
        assert [claim_slot(tmp_path, 2), claim_slot(tmp_path, 2)] == [0, 1]
        with pytest.raises(NoFreeSlotError, match="all 2 API worker slots"):
            claim_slot(tmp_path, 2)
    finally:
        release_slots()
    assert claim_slot(tmp_path, 2) == 0  # released: free again
    release_slots()


def test_serve_takes_a_worker_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["hub", "serve", "--workers", "3"]).workers == 3
    assert build_parser().parse_args(["hub", "serve"]).workers == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hub", "serve", "--workers", "0"])
    assert "--workers: 0: give 1 to 64" in capsys.readouterr().err


class Indexes:
    """Records what the cluster runtime asks of an image-search service."""

    def __init__(self) -> None:
        self.announce: Callable[[str], Awaitable[None]] | None = None
        self.forgotten: list[str] = []

    def set_on_change(self, callback: Callable[[str], Awaitable[None]] | None) -> None:
        self.announce = callback

    def forget_category(self, category: str) -> int:
        self.forgotten.append(category)
        return 1


class Faces:
    def __init__(self) -> None:
        self.refreshed = asyncio.Event()

    async def refresh(self) -> int:
        self.refreshed.set()
        return 1


def test_replicas_reload_what_another_changed_and_not_their_own(tmp_path: Path) -> None:
    settings = HubSettings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        cluster_poll_s=0.05,
    )

    async def body(sessions: list[SessionFactory]) -> None:
        indexes, faces = [Indexes(), Indexes()], [Faces(), Faces()]
        clusters = [
            await start_cluster(settings, s, faces=f, images=i, runner=None)
            for s, f, i in zip(sessions, faces, indexes, strict=True)
        ]
        try:
            assert [c.leadership.is_leader() for c in clusters] == [True, False]
            announce = indexes[0].announce
            assert announce is not None
            await announce("room")  # replica A indexed an image of the room category
            await bump(sessions[0], "gallery")  # replica A published a gallery
            await asyncio.wait_for(faces[1].refreshed.wait(), 5)
            for _ in range(100):
                if indexes[1].forgotten:
                    break
                await asyncio.sleep(0.02)
            assert indexes[1].forgotten == ["room"]
            await clusters[0].watcher.check()
            assert indexes[0].forgotten == []  # its own change: nothing to reload
        finally:
            for cluster in clusters:
                await stop_cluster(cluster)

    run(tmp_path, body)
