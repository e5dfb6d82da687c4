"""Pacing: stay under a tracker's published limits instead of bouncing off them.

The core is pure. A limit is "at most COUNT in any SECONDS" (GitHub's 80 content-creating
requests a minute and 500 an hour, Jira's 20 writes per issue in 2 s ...); what was sent is a
`Log` of (time, cost) pairs; `earliest` says when the next request may go and `record` adds it.
A sliding log rather than a token bucket, because a bucket of COUNT refilling over SECONDS
lets 2 × COUNT through in one window (a full bucket, then its refill), and the servers'
algorithms are not published: a sliding log is the strictest reading, so it never trips one.

The shell is `Pacer`, one per credential (see `pacer_for`), shared by every worker and every
source using that credential. Each request names its lanes (the budgets it draws from); a
content write also takes the serial lane, so writes go one at a time with a minimum spacing
while reads stay concurrent. When a server says stop (429 / secondary 403) the HTTP layer
`hold`s the lanes the answer covers: every worker waits for the one hold, once, then resumes.
A wait longer than the caller's cap raises `Deferred`: the outbox leaves the rest pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from core.clock import SYSTEM
from core.errors import RateLimited

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Log = tuple[tuple[float, int], ...]
"""What a lane sent: (time, cost) pairs, oldest first, trimmed to its longest window."""

EVERYTHING = "*"
"""The lane every request of a credential is in: a hold on it stops them all."""


@dataclass(frozen=True)
class Limit:
    """At most `count` units in any window of `seconds`."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        """`"80/60"` → Limit(80, 60). Raise ValueError naming the expected form."""
        count, sep, seconds = text.strip().partition("/")
        try:
            limit = cls(int(count), float(seconds))
        except ValueError:
            limit = None
        if not sep or limit is None or limit.count < 1 or limit.seconds <= 0:
            raise ValueError(f"{text!r} is not COUNT/SECONDS with both above 0, e.g. 80/60")
        return limit

    @property
    def rate(self) -> float:
        """Units per second over a long run."""
        return self.count / self.seconds

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}"


def parse_limits(texts: Iterable[str]) -> tuple[Limit, ...]:
    return tuple(Limit.parse(t) for t in texts)


def earliest(log: Log, limits: Sequence[Limit], now: float, cost: int = 1,
             margin: float = 0.0) -> float:
    """The first time at or after `now` at which sending `cost` more keeps every limit, each
    window widened by `margin` (the server counts arrivals, which vary by latency)."""
    at = now
    for limit in limits:
        room = limit.count - min(cost, limit.count)
        window = limit.seconds + margin
        used = 0
        for sent, spent in reversed(log):
            if sent <= now - window:
                break
            used += spent
            if used > room:
                at = max(at, sent + window)
                break
    return at


def record(log: Log, at: float, cost: int, limits: Sequence[Limit], margin: float = 0.0
           ) -> Log:
    """`log` with a send at `at`, forgetting what no window can see any more."""
    horizon = at - max((lim.seconds for lim in limits), default=0.0) - margin
    kept = tuple(entry for entry in log if entry[0] > horizon)
    return (*kept, (at, cost))


def settle(log: Log, reserved: float, finished: float) -> Log:
    """`log` with the send reserved at `reserved` moved to `finished`, when its answer came.

    The server counted the request when it arrived, before it answered: a window started
    from the answer's time can only be later than the server's, whatever the latency, so
    the next send placed by it never lands inside the server's window.
    """
    for i, (sent, cost) in enumerate(log):
        if sent == reserved:
            rest = (*log[:i], *log[i + 1:])
            later = next((j for j, entry in enumerate(rest) if entry[0] > finished), len(rest))
            return (*rest[:later], (finished, cost), *rest[later:])
    return log


def minimum_seconds(units: int, limits: Sequence[Limit], spacing: float = 0.0) -> float:
    """The physical minimum time `units` sends take under `limits` from an empty log."""
    if units <= 0:
        return 0.0
    floor = (units - 1) * spacing
    for limit in limits:
        floor = max(floor, (-(-units // limit.count) - 1) * limit.seconds)
    return floor


def steady_rate(limits: Sequence[Limit], spacing: float = 0.0) -> float:
    """Sends per second the tightest limit allows over a long run (inf when unlimited)."""
    rates = [lim.rate for lim in limits]
    if spacing > 0:
        rates.append(1.0 / spacing)
    return min(rates, default=float("inf"))


@dataclass(frozen=True)
class Lane:
    """One budget a request draws from: its key, its limits and what this request costs."""

    key: str
    limits: tuple[Limit, ...] = ()
    cost: int = 1
    name: str = ""
    """How a person calls the limit ("GitHub content limit"), for deferral messages."""
    reason: str = ""
    """The server's `RateLimit-Reason` that stops only this lane (Jira), if any."""


@dataclass(frozen=True)
class Pace:
    """Which lanes a request draws from; `serial` requests go one at a time, spaced."""

    lanes: tuple[Lane, ...] = ()
    serial: bool = False


class Deferred(RateLimited):
    """A limit blocks this credential for longer than the caller may wait: try after `until`
    (epoch seconds). Not a failure: the outbox leaves the rest of the source pending."""

    def __init__(self, message: str, *, until: float, limit: str, source: str = "",
                 status: int | None = None) -> None:
        super().__init__(message, source=source, status=status)
        self.until = until
        self.limit = limit


@dataclass
class _Hold:
    until: float
    reason: str


@dataclass
class Pacer:
    """The shared budgets and holds of one credential (see the module docstring).

    `clock` is wall-clock epoch seconds (holds come from HTTP dates and resets), `sleep`
    is injected so tests never sleep for real. `enabled=False` keeps holds (a server's
    "stop" is shared either way) but drops the budgets and the serial lane.
    """

    name: str = ""
    spacing: float = 0.0
    enabled: bool = True
    margin: float = 0.05
    """Seconds added to every window, for clock granularity (latency is handled by moving
    each send to the time its answer came, see `settle`)."""
    clock: Clock = SYSTEM.time
    sleep: Sleep = SYSTEM.sleep
    logs: dict[str, Log] = field(default_factory=dict)
    holds: dict[str, _Hold] = field(default_factory=dict)
    last_serial: float = float("-inf")
    sent: int = 0
    waited: float = 0.0
    _serial: asyncio.Lock | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def _serial_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._serial is None or self._loop is not loop:  # a daemon runs a loop per cycle
            self._serial, self._loop = asyncio.Lock(), loop
        return self._serial

    def hold(self, until: float, reason: str, lanes: Iterable[str] = (EVERYTHING,)) -> None:
        """Stop the given lanes (all by default) until `until`; a later hold wins."""
        for key in lanes:
            held = self.holds.get(key)
            if held is None or held.until < until:
                self.holds[key] = _Hold(until, reason)

    def held_until(self, pace: Pace) -> tuple[float, str]:
        """The latest hold over any lane of `pace` (0 when none)."""
        keys = [EVERYTHING, *(lane.key for lane in pace.lanes)]
        found = [self.holds[k] for k in keys if k in self.holds]
        if not found:
            return 0.0, ""
        latest = max(found, key=lambda h: h.until)
        return latest.until, latest.reason

    def next_slot(self, pace: Pace, now: float) -> tuple[float, str]:
        """When `pace`'s budgets let it go, and the name of the limit that decides it."""
        at, why = now, ""
        if not self.enabled:
            return at, why
        if pace.serial and self.last_serial + self.spacing > at:
            at, why = self.last_serial + self.spacing, "write spacing"
        for lane in pace.lanes:
            free = earliest(self.logs.get(lane.key, ()), lane.limits, now, lane.cost,
                            self.margin)
            if free > at:
                at, why = free, lane.name or lane.key
        return at, why

    def _settle(self, pace: Pace, reserved: float) -> None:
        if not self.enabled:
            return
        finished = max(reserved, self.clock())
        for lane in pace.lanes:
            if lane.limits and lane.key in self.logs:
                self.logs[lane.key] = settle(self.logs[lane.key], reserved, finished)

    def _reserve(self, pace: Pace, at: float) -> None:
        if not self.enabled:
            return
        for lane in pace.lanes:
            if lane.limits:
                self.logs[lane.key] = record(self.logs.get(lane.key, ()), at, lane.cost,
                                             lane.limits, self.margin)
        if pace.serial:
            self.last_serial = at

    @contextlib.asynccontextmanager
    async def slot(self, pace: Pace, *, max_wait: float, source: str = "",
                   what: str = "") -> AsyncIterator[None]:
        """Wait for `pace`'s holds and budgets, then send inside the block.

        Raises `Deferred` instead of waiting longer than `max_wait` seconds.
        """
        lock = self._serial_lock() if pace.serial and self.enabled else None
        async with lock if lock is not None else contextlib.nullcontext():
            while True:
                now = self.clock()
                held, reason = self.held_until(pace)
                at, why = self.next_slot(pace, max(now, held))
                if held >= at and held > now:
                    why = reason
                wait = at - now
                if wait > max_wait:
                    raise Deferred(
                        f"{what or 'request'}: {why} allows the next one in {wait:.0f} s, more "
                        f"than max_rate_limit_wait = {max_wait:.0f} s; the rest waits for "
                        "a later run",
                        until=at, limit=why, source=source,
                    )
                self._reserve(pace, at)
                if wait > 0:
                    self.waited += wait
                    await self.sleep(wait)
                if self.held_until(pace)[0] <= at:
                    break  # else another worker was told to stop while this one slept
            self.sent += 1
            try:
                yield
            finally:
                self._settle(pace, at)


_PACERS: dict[str, Pacer] = {}


def credential_key(*parts: str) -> str:
    """A key naming a credential without holding it: a digest of the URL and the secret."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def pacer_for(key: str, make: Callable[[], Pacer]) -> Pacer:
    """The process-wide pacer of one credential, made on first use.

    Shared by every source and every run of this process that uses the credential, so a
    daemon keeps what it sent (and any hold) from one cycle to the next.
    """
    pacer = _PACERS.get(key)
    if pacer is None:
        pacer = _PACERS[key] = make()
    return pacer


def forget_pacers() -> None:
    """Drop every pacer (tests that start from a fresh budget)."""
    _PACERS.clear()
