"""The six cases. Each returns one JSON-ready dict (medians over ``repeat`` runs).

1. ``cold_exchange``: a system user ticket for every tenant from nothing (no ticket in memory or
   store, no JWKS): the toolkit's fleet (``run_fleet`` over ``TicketManager.ticket``, bounded
   concurrency, one pooled client, one JWKS fetch) against :mod:`benchmarks.baseline`.
2. ``warm_work``: a state check (``refresh``) plus ``GET v1/User/currentPrincipal`` per tenant,
   tickets cached: no exchange.
3. ``provisioning``: a manifest of 2 lists x 5 items, 2 web panels and 1 button applied across
   the fleet (``apply_fleet``), then a re-plan of the unchanged fleet (``plan_fleet``).
4. ``token_validation``: the install callbacks' id_tokens validated per second by
   ``validate_id_token`` (warm ``JwksCache``) against plain ``jwt.decode`` with the same key.
5. ``async_api``: the cold exchange and the re-plan through ``AsyncWorkspace``, beside the same
   two through the sync API (:mod:`benchmarks.async_case`).
6. ``engine``: the first apply through the durable engine against the same work without it, and
   the engine's client CPU per step (:mod:`benchmarks.engine_case`).
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from benchmarks.baseline import sample_exchange
from benchmarks.counting import KINDS
from benchmarks.load import load_average_1m, load_fields
from benchmarks.world import PUBLIC_URL, BenchWorld
from toolkit.auth.jwks import JwksCache
from toolkit.auth.tokens import validate_id_token
from toolkit.keys import load_private_key

CASES = (
    "cold_exchange",
    "warm_work",
    "provisioning",
    "token_validation",
    "async_api",
    "engine",
)
# Baselines larger than this are run on this many tenants and extrapolated linearly.
BASELINE_SAMPLE = 100
# Token validation: at least this many validations per timed round.
MIN_VALIDATIONS = 3000

# Case 3's manifest: 2 lists x 5 items, 2 web panels, 1 button (a hybrid application).
MANIFEST = """\
model = "hybrid"

[[lists]]
name = "Bench sync status"
tooltip = "Sync states written by the benchmark application"
{items_a}

[[lists]]
name = "Bench priority"
tooltip = "Priorities used by the benchmark application"
{items_b}

[[web_panels]]
prog_id = "bench.contact"
name = "Bench"
url = "{{public_url}}/panel/{{app}}?uctx=<uctx>&contact=<cuid>"
visible_in = "ContactCard"
window_name = "BenchContact"

[[web_panels]]
prog_id = "bench.project"
name = "Bench"
url = "{{public_url}}/panel/{{app}}?uctx=<uctx>&project=<prid>"
visible_in = "ProjectCard"
window_name = "BenchProject"

[[buttons]]
prog_id = "bench.main"
name = "Bench"
url = "{{public_url}}/panel/{{app}}?uctx=<uctx>"
"""


def manifest_text() -> str:
    def items(prefix: str) -> str:
        return "\n".join(
            f'[[lists.items]]\nname = "{prefix} {i}"\nrank = {i}\n' for i in range(1, 6)
        )

    return MANIFEST.format(items_a=items("State"), items_b=items("Priority"))


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB: the peak of this process so far (the emulator excluded
    # when it runs as a subprocess).
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass
class Measured:
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    emulator_cpu_seconds: float | None = None
    requests: dict[str, int] = field(default_factory=dict)
    credentials: int = 0
    load_before: float = 0.0  # the 1-minute load average when the block began

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@contextmanager
def measure(world: BenchWorld) -> Iterator[Measured]:
    """Wall time, this process's CPU time, the emulator's CPU time, requests by kind and the
    credentials records the emulator wrote, for the block."""
    result = Measured(load_before=load_average_1m())
    emulator = world.emulator
    counts = world.counter.snapshot()
    credentials = emulator.credentials_total()
    emulator_cpu = emulator.cpu_seconds()
    cpu = time.process_time()
    begun = time.perf_counter()
    yield result
    result.wall_seconds = time.perf_counter() - begun
    result.cpu_seconds = time.process_time() - cpu
    result.requests = world.counter.since(counts)
    after = emulator.cpu_seconds()
    if emulator_cpu is not None and after is not None:
        result.emulator_cpu_seconds = round(after - emulator_cpu, 3)
    result.credentials = emulator.credentials_total() - credentials


def _median_run(runs: list[Measured]) -> Measured:
    ordered = sorted(runs, key=lambda r: r.wall_seconds)
    return ordered[(len(ordered) - 1) // 2]


def summarize(
    case: str, world: BenchWorld, runs: list[Measured], latency_ms: float, **extra: Any
) -> dict[str, Any]:
    """The case's JSON: medians of wall and CPU time; requests of the median run."""
    n = world.n
    middle = _median_run(runs)
    emulator_cpu = [r.emulator_cpu_seconds for r in runs if r.emulator_cpu_seconds is not None]
    requests = {kind: middle.requests.get(kind, 0) for kind in KINDS}
    return {
        "case": case,
        "n": n,
        "latency_ms": latency_ms,
        "repeats": len(runs),
        "wall_seconds": round(statistics.median(r.wall_seconds for r in runs), 3),
        "wall_seconds_runs": [round(r.wall_seconds, 3) for r in runs],
        "requests": requests,
        "requests_per_tenant": round(sum(requests.values()) / n, 3),
        "exchanges_per_tenant": round(requests["exchange"] / n, 3),
        "emulator_exchanges_per_tenant": round(middle.credentials / n, 3),
        "cpu_seconds": round(statistics.median(r.cpu_seconds for r in runs), 3),
        "emulator_cpu_seconds": round(statistics.median(emulator_cpu), 3) if emulator_cpu else None,
        "peak_rss_mb": peak_rss_mb(),
        "concurrency": world.concurrency,
        "emulator": world.emulator.mode,
        "store": world.repository.engine.url.get_backend_name(),
        **load_fields(*(r.load_before for r in runs)),
        **extra,
    }


def _check_fleet(summary: Any, what: str) -> None:
    if summary.counts.get("succeeded") != summary.counts.get("total"):
        failed = summary.failed[:3] + summary.skipped[:3]
        detail = "; ".join(f"{r.context_identifier}: {r.error_type}: {r.error}" for r in failed)
        raise RuntimeError(f"{what}: {summary.counts} ({detail})")


# ------------------------------------------------------------------------------------------
# 1. Cold ticket exchange


def _exchange_with_key_loaded_once(world: BenchWorld) -> Callable[..., Any]:
    """The toolkit's exchange (:func:`exchange_system_user_token`), but with the application's
    private key parsed once instead of per exchange: what caching the loaded key in
    ``toolkit.auth.tickets.system_user_exchange`` would give (the variant in case 1)."""
    from toolkit.auth.system_user import exchange_system_user_token
    from toolkit.auth.tickets import environment_of

    keys = JwksCache(world.environment.jwks_url, world.http)
    loaded: dict[str, Any] = {}
    lock = threading.Lock()

    def exchange(*, application: Any, authorization: Any, transport: str | None = None) -> Any:
        with lock:
            key = loaded.get(application.id)
            if key is None:
                key = loaded[application.id] = load_private_key(application.private_key.reveal())
        return exchange_system_user_token(
            http=world.http,
            environment=environment_of(application),
            keys=keys,
            application_token=application.client_secret.reveal(),
            context_identifier=authorization.context_identifier,
            system_user_token=authorization.system_user_token.reveal(),
            private_key=key,
            transport="soap" if transport == "soap" else "rest",
        )

    return exchange


def _toolkit_cold(world: BenchWorld, *, key_loaded_once: bool = False) -> Measured:
    from toolkit.auth.tickets import TicketManager
    from toolkit.provisioning.fleet import run_fleet

    world.forget_tickets()
    access = world.new_access()  # no ticket in memory, no JWKS, no state
    if key_loaded_once:
        manager = TicketManager(world.repository, exchange=_exchange_with_key_loaded_once(world))
        access = world.new_access(ticket_manager=manager)
    targets = world.targets
    with measure(world) as measured:
        summary = run_fleet(
            targets,
            lambda app, ctx: access.tickets.ticket(app.id, ctx),
            concurrency=world.concurrency,
        )
    _check_fleet(summary, "cold exchange")
    return measured


def _baseline(world: BenchWorld, sample: int) -> Measured:
    app = world.repository.get_application(world.targets[0][0].id)
    assert app.private_key is not None  # noqa: S101 (the emulator issued one)
    private_key = load_private_key(app.private_key.reveal())
    secret = app.client_secret.reveal()
    records = world.repository.list_authorizations(app.id, status="active")[:sample]
    tokens = []
    for record in records:
        assert record.system_user_token is not None  # noqa: S101 (installed with the claim)
        tokens.append((record.context_identifier, record.system_user_token.reveal()))
    with measure(world) as measured:
        for ctx, system_user_token in tokens:
            sample_exchange(
                world.emulator.base_url,
                application_token=secret,
                private_key=private_key,
                context_identifier=ctx,
                system_user_token=system_user_token,
                counter=world.counter,
            )
    return measured


def cold_exchange(
    world: BenchWorld, *, repeat: int, latency_ms: float, baseline_sample: int = BASELINE_SAMPLE
) -> dict[str, Any]:
    n = world.n
    variant_runs = [_toolkit_cold(world, key_loaded_once=True) for _ in range(repeat)]
    runs = [_toolkit_cold(world) for _ in range(repeat)]  # last: its tickets serve case 2
    sample = min(n, baseline_sample)
    baseline_runs = [_baseline(world, sample) for _ in range(repeat)]
    scale = n / sample
    baseline_wall = statistics.median(r.wall_seconds for r in baseline_runs) * scale
    base_middle = _median_run(baseline_runs)
    result = summarize("cold_exchange", world, runs, latency_ms)
    result["ratio_to_baseline"] = round(baseline_wall / result["wall_seconds"], 2)
    result["baseline"] = {
        "wall_seconds": round(baseline_wall, 3),
        "wall_seconds_runs": [round(r.wall_seconds * scale, 3) for r in baseline_runs],
        "requests_per_tenant": round(base_middle.total_requests / sample, 3),
        "requests": base_middle.requests,
        "exchanges_per_tenant": round(base_middle.requests["exchange"] / sample, 3),
        "emulator_exchanges_per_tenant": round(base_middle.credentials / sample, 3),
        "cpu_seconds": round(statistics.median(r.cpu_seconds for r in baseline_runs) * scale, 3),
        "what": "sequential, new connection per request, JWKS fetched per validation, no cache",
    }
    if sample < n:
        result["baseline_extrapolated_from"] = sample
    variant_wall = statistics.median(r.wall_seconds for r in variant_runs)
    variant_middle = _median_run(variant_runs)
    result["variant_private_key_loaded_once"] = {
        "wall_seconds": round(variant_wall, 3),
        "wall_seconds_runs": [round(r.wall_seconds, 3) for r in variant_runs],
        "cpu_seconds": round(statistics.median(r.cpu_seconds for r in variant_runs), 3),
        "requests_per_tenant": round(variant_middle.total_requests / n, 3),
        "exchanges_per_tenant": round(variant_middle.requests["exchange"] / n, 3),
        "ratio_to_baseline": round(baseline_wall / variant_wall, 2),
        "what": "the same fleet with the application's private key parsed once, not per exchange",
    }
    result["targets"] = {
        "ratio_to_baseline_at_n500": ">= 10",
        "exchanges_per_tenant": "== 1",
    }
    return result


# ------------------------------------------------------------------------------------------
# 2. Warm work


def warm_work(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    from toolkit.provisioning.fleet import run_fleet

    access = world.access
    targets = world.targets
    # Tickets must be held: after case 1 they are; otherwise get them now (not measured).
    run_fleet(
        targets,
        lambda app, ctx: access.tickets.ticket(app.id, ctx),
        concurrency=world.concurrency,
    )

    def state(app: Any, ctx: str) -> Any:
        return access.status(app.id, ctx, refresh=True)  # a real state check every run

    def read(app: Any, ctx: str) -> str:
        principal = access.system_user_api(app.id, ctx).current_principal()
        return str(principal.get("Associate", ""))

    runs = []
    for _ in range(repeat):
        with measure(world) as measured:
            summary = run_fleet(targets, read, status=state, concurrency=world.concurrency)
        _check_fleet(summary, "warm work")
        runs.append(measured)
    result = summarize("warm_work", world, runs, latency_ms)
    result["targets"] = {"exchanges_per_tenant": "== 0"}
    return result


# ------------------------------------------------------------------------------------------
# 3. Provisioning


def provisioning(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    from toolkit.provisioning.fleet import apply_fleet, plan_fleet
    from toolkit.provisioning.service import Provisioning

    access = world.access
    service = Provisioning(world.repository, access, public_url=PUBLIC_URL)
    app_id = world.targets[0][0].id
    service.set_manifest(app_id, manifest_text(), actor="bench")
    targets = world.targets
    with measure(world) as applied:
        summary = apply_fleet(service, targets, actor="bench", concurrency=world.concurrency)
    _check_fleet(summary, "first apply")
    runs = []
    changes = 0
    for _ in range(repeat):
        with measure(world) as measured:
            plans = plan_fleet(service, targets, concurrency=world.concurrency)
        _check_fleet(plans, "re-plan")
        changes = sum(1 for r in plans.results if r.value is not None and _changes(r.value))
        runs.append(measured)
    n = world.n
    apply_requests = {kind: applied.requests.get(kind, 0) for kind in KINDS}
    result = summarize("provisioning", world, runs, latency_ms)
    result["phase"] = "re-plan of the unchanged fleet (apply below)"
    result["replan_tenants_with_changes"] = changes
    result["apply"] = {
        "wall_seconds": round(applied.wall_seconds, 3),
        "requests": apply_requests,
        "requests_per_tenant": round(sum(apply_requests.values()) / n, 3),
        "exchanges_per_tenant": round(apply_requests["exchange"] / n, 3),
        "cpu_seconds": round(applied.cpu_seconds, 3),
        "emulator_cpu_seconds": applied.emulator_cpu_seconds,
        "repeats": 1,
    }
    result["manifest"] = {"lists": 2, "items_per_list": 5, "web_panels": 2, "buttons": 1}
    result["targets"] = {"replan_requests_per_tenant": "<= 3"}
    return result


def _changes(plan: Any) -> bool:
    """Whether a plan has anything to do (``Plan.is_empty`` is False)."""
    return not bool(getattr(plan, "is_empty", True))


# ------------------------------------------------------------------------------------------
# 4. Token validation


def _rate(fn: Callable[[], None], count: int) -> float:
    begun = time.perf_counter()
    fn()
    return count / (time.perf_counter() - begun)


def token_validation(
    world: BenchWorld, *, repeat: int, latency_ms: float, validations: int = MIN_VALIDATIONS
) -> dict[str, Any]:
    tokens = list(world.id_tokens)
    if not tokens:
        raise RuntimeError("no id_token was captured during the installs")
    app = world.repository.get_application(world.targets[0][0].id)
    issuer, client_id = world.environment.issuer, app.client_id
    keys = JwksCache(world.environment.jwks_url, world.http)
    keys.refresh()  # warm: validation makes no request
    # id_tokens live 5 minutes (the emulator's ID_TOKEN_LIFETIME) and the installs of a large
    # fleet take longer: each token is validated "at" one second after its iat (the toolkit
    # takes an injected clock); plain jwt.decode gets the same tolerance as leeway.
    work = []
    oldest = datetime.now(UTC)
    for token in tokens:
        payload = jwt.decode(token, options={"verify_signature": False})
        moment = datetime.fromtimestamp(int(payload["iat"]), UTC) + timedelta(seconds=1)
        oldest = min(oldest, moment)
        header = jwt.get_unverified_header(token)
        key = keys.signing_key(header.get("kid"), header.get("alg", "RS256"))
        work.append((token, key, (lambda m=moment: m)))
    leeway = datetime.now(UTC) - oldest + timedelta(minutes=10)
    rounds = max(1, -(-validations // len(work)))
    count = rounds * len(work)

    def toolkit() -> None:
        for _ in range(rounds):
            for token, _key, clock in work:
                validate_id_token(
                    token, keys=keys, issuer=issuer, client_id=client_id, nonce=None, now=clock
                )

    def plain() -> None:
        for _ in range(rounds):
            for token, key, _clock in work:
                jwt.decode(
                    token,
                    key=key,
                    algorithms=["RS256"],
                    audience=client_id,
                    issuer=issuer,
                    leeway=leeway,
                    options={"require": ["exp", "iat", "sub"]},
                )

    toolkit()  # warm both paths once (imports, PyJWK preparation)
    plain()
    runs = []
    toolkit_rates, plain_rates = [], []
    for _ in range(max(3, repeat)):
        with measure(world) as measured:
            toolkit_rates.append(_rate(toolkit, count))
        plain_rates.append(_rate(plain, count))
        runs.append(measured)
    rate = statistics.median(toolkit_rates)
    plain_rate = statistics.median(plain_rates)
    result = summarize("token_validation", world, runs, latency_ms)
    result.update(
        {
            "tokens": len(work),
            "validations_per_run": count,
            "validations_per_second": round(rate),
            "plain_decode_per_second": round(plain_rate),
            "ratio_to_baseline": round(rate / plain_rate, 3),
            "baseline": {"what": "jwt.decode with the same PyJWK, RS256, aud, iss, exp/iat/sub"},
            "jwks_fetches": keys.fetch_count,
            "targets": {"ratio_to_baseline": ">= 0.8"},
        }
    )
    return result


# ------------------------------------------------------------------------------------------
# 5. The async API (benchmarks/async_case.py)


def async_api(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    from benchmarks.async_case import async_api as run

    return run(world, repeat=repeat, latency_ms=latency_ms)


# ------------------------------------------------------------------------------------------
# 6. The durable engine (benchmarks/engine_case.py)


def engine(world: BenchWorld, *, repeat: int, latency_ms: float) -> dict[str, Any]:
    from benchmarks.engine_case import engine as run

    return run(world, repeat=repeat, latency_ms=latency_ms)
