"""The `reelcloud` command line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.settings import Settings, load_settings

app = typer.Typer(
    help="reelcloud: a video streaming platform built the way Netflix describes its cloud.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
pipeline_app = typer.Typer(help="The event pipeline's routes: status and replay.",
                           no_args_is_help=True)  # fmt: skip
app.add_typer(pipeline_app, name="pipeline")
console = Console()
err = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the platform keeps its state (default ./.reelcloud)."),
]
GATEWAY_HELP = "Default: the gateway of the platform in --data-dir."
TopologyOption = Annotated[
    Path | None, typer.Option("--topology", help="Topology YAML (default: the packaged one).")
]


def _settings(data_dir: Path | None = None, topology: Path | None = None, **extra: Any) -> Settings:
    overrides: dict[str, Any] = dict(extra)
    if data_dir is not None:
        overrides["data_dir"] = data_dir.expanduser().resolve()
    if topology is not None:
        overrides["topology_file"] = topology.expanduser().resolve()
    return load_settings(**overrides)


def _datadir(data_dir: Path | None) -> Any:
    from reelcloud.launcher.datadir import DataDir

    return DataDir.at(data_dir or _settings().data_dir)


def _short_instance_id(instance_id: str) -> str:
    """`127.0.0.1:play-api:2` → `play-api:2`: every instance here runs on this host."""
    host, _, rest = instance_id.partition(":")
    return rest if rest and host.replace(".", "").isdigit() else instance_id


def _print_status(status: dict[str, Any], out: Console = console) -> None:
    """Two tables that fit 80 columns: instances (the id names the service), then engines."""
    from rich import box

    table = Table(
        title=f"reelcloud · {status['topology']} · {status['phase']}",
        box=box.SIMPLE,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("instance", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("zone", no_wrap=True)
    table.add_column("registry", no_wrap=True)
    table.add_column("health", no_wrap=True)
    table.add_column("process", no_wrap=True)
    table.add_column("↻", justify="right", no_wrap=True)
    table.caption = "↻ restarts"
    colours = {"UP": "green", "MISSING": "red", "DOWN": "red", "OUT_OF_SERVICE": "yellow"}
    for i in status["instances"]:
        colour = colours.get(i["status"], "yellow")
        registry = "OUT_OF_SVC" if i["status"] == "OUT_OF_SERVICE" else i["status"]
        table.add_row(
            _short_instance_id(i["id"]),
            i["address"] or "-",
            i["zone"],
            f"[{colour}]{registry}[/]",
            str(i["health"]).split(" ")[0],  # ok | failing | unknown (--json has the reason)
            i["process"],
            str(i["restarts"]),
        )
    out.print(table)
    for i in status["instances"]:
        if str(i["health"]).startswith("not-ready"):  # a consumer or dependency is down: say which
            out.print(f"[yellow]{_short_instance_id(i['id'])}[/] {i['health']}", highlight=False)
    engines = Table(box=box.SIMPLE, pad_edge=False)
    engines.add_column("engine", no_wrap=True)
    engines.add_column("url", overflow="fold")
    engines.add_column("process", no_wrap=True)
    engines.add_column("↻", justify="right", no_wrap=True)
    for e in status.get("engines", []):
        engines.add_row(e["name"], e["url"], e["process"], str(e["restarts"]))
    if engines.row_count:
        out.print(engines)
    for peer in status.get("registry", {}).get("peers", []):
        if not peer.get("reachable"):
            out.print(f"registry {peer['url']}: [red]unreachable[/]")
            continue
        mode = "[red]SELF-PRESERVATION[/]" if peer.get("self_preservation_mode") else "normal"
        out.print(
            f"registry {peer['url']}: {peer['instances']} instances, renewals "
            f"{peer['renewals_last_window']}/{peer['renewal_threshold']} per window, {mode}"
        )


@app.command()
def up(
    topology: TopologyOption = None,
    data_dir: DataDirOption = None,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background.")] = False,
) -> None:
    """Start the platform: engines, registry peers, then every service, layer by layer."""
    settings = _settings(data_dir, topology)
    if detach:
        from reelcloud.launcher.up import start_detached

        _print_status(start_detached(settings))
        console.print(
            f"running in the background; stop with: reelcloud down --data-dir {settings.data_dir}"
        )
        return
    from reelcloud.launcher.up import run_foreground
    from reelcloud.platform.logging import configure_logging

    configure_logging(service="launcher", instance_id="launcher", level="WARNING", fmt="text")
    console.print(f"reelcloud up · data dir {Path(settings.data_dir).resolve()} · Ctrl-C stops")
    asyncio.run(run_foreground(settings, lambda message: console.print(message, highlight=False)))


@app.command()
def down(data_dir: DataDirOption = None) -> None:
    """Stop a platform started with `up --detach`."""
    from reelcloud.launcher.up import stop_platform

    pid = stop_platform(_datadir(data_dir))
    console.print(f"stopped (launcher pid {pid})")


@app.command()
def status(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every instance with its address, process state and registry status."""
    from reelcloud.launcher.control import ControlClient

    result = asyncio.run(ControlClient(_datadir(data_dir)).status())
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        _print_status(result)


@app.command()
def scale(
    service: str,
    instances: Annotated[int, typer.Argument(min=0, max=64)],
    data_dir: DataDirOption = None,
) -> None:
    """Change the number of instances of SERVICE on a running platform."""
    from reelcloud.launcher.control import ControlClient

    result = asyncio.run(ControlClient(_datadir(data_dir)).scale(service, instances))
    console.print(f"{result['service']}: {len(result['instances'])} instances")


@app.command()
def run(service: str) -> None:
    """Run one service instance in this process (the launcher does this for you)."""
    import faulthandler
    import signal

    from reelcloud.platform.logging import configure_logging
    from reelcloud.platform.server import run_service

    # SIGUSR1 writes every thread's stack to stderr (the instance's log): the launcher asks for
    # it when an instance never gets ready, so the log says where it is stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    settings = _settings(service=service)
    configure_logging(
        service=service,
        instance_id=settings.instance_id,
        level=settings.log_level,
        fmt=settings.log_format,
    )
    run_service(settings)


def _with_platform_engines(settings: Settings, data_dir: Path | None) -> Settings:
    """Settings that reach the engines of the platform running in the data directory, unless
    the environment names others."""
    from reelcloud.launcher.datadir import DataDir
    from reelcloud.launcher.up import engine_env

    state = engine_env(DataDir.at(settings.data_dir))
    extra: dict[str, Any] = {}
    if settings.s3_url is None and "REELCLOUD_S3_URL" in state:
        extra["s3_url"] = state["REELCLOUD_S3_URL"]
        extra["s3_access_key"] = state.get("REELCLOUD_S3_ACCESS_KEY", "")
        extra["s3_secret_key"] = state.get("REELCLOUD_S3_SECRET_KEY", "")
    if settings.nats_url is None and "REELCLOUD_NATS_URL" in state:
        extra["nats_url"] = state["REELCLOUD_NATS_URL"]
    if not settings.content_kek.get_secret_value() and state:
        from reelcloud.launcher.secrets import load_secrets

        extra["content_kek"] = load_secrets(DataDir.at(settings.data_dir).root).content_kek
    return _settings(data_dir, **extra) if extra else settings


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="The source video.")],
    title: Annotated[str, typer.Option("--title", help="The title's name.")],
    year: Annotated[int | None, typer.Option(min=1888, max=2100)] = None,
    genres: Annotated[str, typer.Option(help="Comma-separated, e.g. drama,thriller")] = "",
    countries: Annotated[str, typer.Option(help="Where it is licensed, e.g. US,GB")] = "",
    maturity: Annotated[str, typer.Option(help="Maturity rating")] = "PG",
    description: Annotated[str, typer.Option()] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Probe, encode (HLS + DASH ladder) and publish a video to the origin."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from reelcloud.encoding.pipeline import TitleMetadata
    from reelcloud.encoding.pipeline import ingest as run_ingest

    if not title.strip():
        raise ReelcloudError("--title must not be empty")
    settings = _with_platform_engines(_settings(data_dir), data_dir)
    metadata = TitleMetadata(
        title=title.strip(),
        year=year,
        genres=[g.strip() for g in genres.split(",") if g.strip()],
        countries=[c.strip().upper() for c in countries.split(",") if c.strip()],
        maturity=maturity,
        description=description,
    )
    columns = (TextColumn("{task.description:<14}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=done)

        manifest = asyncio.run(run_ingest(settings, file, metadata, progress=report))
    rungs = ", ".join(r["name"] for r in manifest["rungs"])
    console.print(
        f"{manifest['title_id']}  {metadata.title}  {manifest['duration_s']:.1f} s  "
        f"rungs: {rungs}  files: {len(manifest['files'])}",
        highlight=False,
    )


@app.command("seed-demo")
def seed_demo(
    titles: Annotated[int, typer.Option(min=0, max=6)] = 6,
    seconds: Annotated[int, typer.Option(min=4, max=120)] = 40,
    data_dir: DataDirOption = None,
) -> None:
    """Publish the demo catalog (ffmpeg test-source titles) if the origin has no titles yet."""
    from reelcloud.encoding.demo import seed_demo_catalog
    from reelcloud.platform.logging import configure_logging

    configure_logging(service="demo-seed", instance_id="demo-seed", level="INFO", fmt="text")
    settings = _with_platform_engines(_settings(data_dir), data_dir)
    published = asyncio.run(seed_demo_catalog(settings, titles=titles, seconds=seconds))
    console.print(f"demo catalog: {len(published)} titles published", highlight=False)


async def _service_url(data_dir: Path | None, service: str) -> str:
    """An instance of `service` in the running platform, from the launcher's status."""
    from reelcloud.launcher.control import ControlClient

    result = await ControlClient(_datadir(data_dir)).status()
    for instance in result["instances"]:
        if instance["service"] == service and instance["address"]:
            return f"http://{instance['address']}"
    raise ReelcloudError(f"{service} is not running in this platform")


def _admin_headers(data_dir: Path | None) -> dict[str, str]:
    """The admin credential of the platform in --data-dir: REELCLOUD_ADMIN_PASSWORD when set
    (deployments), else the data directory's secrets file."""
    from reelcloud.launcher.secrets import load_secrets
    from reelcloud.platform.credentials import ADMIN_USER, basic_authorization

    password = _settings(data_dir).admin_password.get_secret_value()
    password = password or load_secrets(_datadir(data_dir).root).admin_password
    return {"Authorization": basic_authorization(ADMIN_USER, password)}


async def _call(
    data_dir: Path | None,
    service: str,
    method: str,
    path: str,
    *,
    admin: bool = False,
    body: dict[str, Any] | None = None,
    timeout_s: float = 10.0,
) -> Any:
    """One request to an instance of `service` in the running platform; its JSON answer."""
    import aiohttp

    url = await _service_url(data_dir, service) + path
    headers = _admin_headers(data_dir) if admin else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
        session.request(method, url, headers=headers, json=body) as reply,
    ):
        if reply.status != 200:
            raise ReelcloudError(f"{service} answered {reply.status}: {await reply.text()}")
        return await reply.json()


async def _cache_control(
    data_dir: Path | None, method: str, path: str, *, admin: bool = False
) -> dict[str, Any]:
    answer: dict[str, Any] = await _call(data_dir, "cache-control", method, path, admin=admin,
                                         timeout_s=5.0)  # fmt: skip
    return answer


def _print_ocas(summary: dict[str, Any]) -> None:
    table = Table(title="Open Connect appliances")
    for column in ("oca", "site", "kind", "address", "health", "titles", "disk", "filled"):
        table.add_column(column)
    for oca in summary["ocas"]:
        health = "[green]healthy[/]" if oca["healthy"] else "[red]not serving[/]"
        disk = f"{oca['health']['disk_used'] / 1e6:.0f} MB" if oca["health"] else "-"
        filled = oca["fill"].get("bytes_by_source", {}) if oca["fill"] else {}
        table.add_row(
            oca["id"],
            oca["site"],
            oca["kind"],
            oca["address"],
            health,
            f"{oca['titles_held']}/{oca['titles_planned']}",
            disk,
            ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(filled.items())) or "-",
        )
    console.print(table)


@app.command()
def ocas(data_dir: DataDirOption = None) -> None:
    """Show every OCA as cache control sees it: health, titles held of those planned, fill."""
    _print_ocas(asyncio.run(_cache_control(data_dir, "GET", "/v1/ocas")))


@app.command()
def fill(
    now: Annotated[bool, typer.Option("--now", help="Fill now, outside the fill windows.")] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Wait up to this many seconds for every OCA.")
    ] = 0.0,
    data_dir: DataDirOption = None,
) -> None:
    """Ask every OCA to fill what its manifest wants, now (new titles fill at once anyway)."""
    if not now:
        raise ReelcloudError("fill runs inside each OCA's window by itself; --now runs it now")
    answer = asyncio.run(_cache_control(data_dir, "POST", "/v1/fill/now", admin=True))
    console.print(f"out-of-window fill requested (generation {answer['fill_now']})")
    if wait <= 0:
        return

    async def until_filled() -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            summary = await _cache_control(data_dir, "GET", "/v1/ocas")
            held = sum(min(o["titles_held"], o["titles_planned"]) for o in summary["ocas"])
            planned = sum(o["titles_planned"] for o in summary["ocas"])
            err.print(f"filled {held}/{planned} title placements", highlight=False)
            if planned and held >= planned:
                return summary
            if asyncio.get_running_loop().time() > deadline:
                raise ReelcloudError(f"not filled after {wait:.0f} s ({held}/{planned})")
            await asyncio.sleep(1.0)

    _print_ocas(asyncio.run(until_filled()))


def _client_settings(data_dir: Path | None, topology: Path | None) -> Settings:
    """Settings for a client of a running platform: the topology it was started with (the
    launcher records it) unless --topology names another."""
    if topology is None:
        state_file = _datadir(data_dir).state_file
        if state_file.exists():
            recorded = json.loads(state_file.read_text()).get("topology_file")
            topology = Path(recorded) if recorded else None
    return _settings(data_dir, topology)


def _gateway_url(settings: Settings, gateway: str | None, data_dir: Path | None = None) -> str:
    """--gateway if given; else the public listener of the topology's gateway (`settings` hold
    the topology the platform in the data dir was started with). Naming a --data-dir where
    nothing runs is an error, not a guess."""
    if gateway:
        return gateway
    datadir = _datadir(data_dir)
    if data_dir is not None and not datadir.state_file.exists():
        raise ReelcloudError(
            f"no platform is running in {datadir.root}: start one with `reelcloud up`"
        )
    for service in settings.topology.services:
        if service.name == "gateway":
            port = service.options.get("listen_port", 8080)
            return f"http://{service.options.get('listen_host', '127.0.0.1')}:{port}"
    raise ReelcloudError("the topology has no gateway; name one with --gateway URL")


def _trace(throttle_kbps: float | None, trace_file: Path | None) -> Any:
    from reelcloud.client.network import BandwidthTrace

    if throttle_kbps is not None and trace_file is not None:
        raise ReelcloudError("give --throttle-kbps or --trace, not both")
    if trace_file is not None:
        return BandwidthTrace.from_csv(trace_file)
    if throttle_kbps is not None:
        return BandwidthTrace.constant(throttle_kbps * 1000)
    return None


def _qoe_table(summary: dict[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False)
    labels = {
        "startup_ms": "start-up (ms)",
        "mean_bitrate_kbps": "mean bitrate (kbps)",
        "rebuffers": "rebuffers",
        "rebuffer_s": "rebuffering (s)",
        "rebuffer_ratio": "rebuffer ratio",
        "bitrate_switches": "bitrate switches",
        "oca_changes": "OCA changes",
        "errors": "errors",
        "steering_updates": "steering updates",
        "played_s": "played (s)",
    }
    for key, label in labels.items():
        table.add_row(label, str(summary.get(key)))
    return table


@app.command()
def play(
    title: Annotated[str, typer.Argument(help="A title's id or name (a part of it will do).")],
    network: Annotated[
        str, typer.Option(help="Where the viewer sits: an ISP of the topology, or 'other'.")
    ] = "isp-a",
    abr: Annotated[str, typer.Option(help="bba (buffer-based) or throughput.")] = "bba",
    speed: Annotated[float, typer.Option(min=0.1, max=100, help="Playback speed.")] = 1.0,
    watch: Annotated[
        float | None, typer.Option(min=0.1, help="Stop after this many seconds of playback.")
    ] = None,
    throttle_kbps: Annotated[
        float | None, typer.Option(min=1, help="Hold downloads to this bandwidth.")
    ] = None,
    trace: Annotated[
        Path | None, typer.Option(help="A bandwidth trace: CSV rows of seconds,kbps.")
    ] = None,
    email: Annotated[str, typer.Option()] = "alice@reelcloud.test",
    password: Annotated[str, typer.Option()] = "reelcloud",
    gateway: Annotated[
        str | None, typer.Option(help="Default: the gateway of the platform in --data-dir.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the QoE as JSON.")] = False,
    topology: TopologyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Watch a title with the headless player: a live line while it plays, QoE at the end."""
    from rich.live import Live
    from rich.text import Text

    from reelcloud.client.watch import watch_title

    settings = _client_settings(data_dir, topology)
    gateway_url = _gateway_url(settings, gateway, data_dir)
    if settings.topology.openconnect is None:
        raise ReelcloudError("the topology has no Open Connect section: nothing to stream from")
    openconnect = settings.topology.openconnect
    line = Text("starting…")

    def progress(state: dict[str, Any]) -> None:
        line.plain = (
            f"{state['played_s']:6.1f} s │ {state['oca']} │ {state['height']}p │ "
            f"buffer {state['buffer_s']:4.1f} s │ rebuffers {state['rebuffers']} │ "
            f"OCA changes {state['oca_changes']}"
        )

    with Live(line, console=err, refresh_per_second=4, transient=as_json):
        viewing = asyncio.run(
            watch_title(
                gateway_url,
                openconnect,
                title,
                email=email,
                password=password,
                network=network,
                abr=abr,
                speed=speed,
                watch_s=watch,
                trace=_trace(throttle_kbps, trace),
                on_progress=progress,
            )
        )
    qoe = viewing.qoe
    summary = qoe.summary() | {
        "title": viewing.title["name"],
        "play_id": viewing.play.play_id,
        "network": network,
        "source_address": viewing.source_address,
        "bytes_by_oca": dict(qoe.bytes_by_oca),
        "segments_by_height": {str(h): n for h, n in sorted(qoe.rungs.items())},
        "pathway_changes": qoe.pathway_changes,
    }
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    console.print(_qoe_table(summary, f"{viewing.title['name']} from {network}"))
    served = ", ".join(f"{oca} {n / 1e6:.1f} MB" for oca, n in qoe.bytes_by_oca.most_common())
    console.print(f"served by: {served}", highlight=False)


def _print_load_report(report: dict[str, Any]) -> None:
    table = Table(title="load run", show_header=False)
    rows = [
        ("viewers started", report["started"]),
        ("succeeded", report["succeeded"]),
        ("failed", report["failed"]),
        ("stream starts / s (SPS)", report["sps"]),
        ("play latency p50 / p99 (ms)", "{p50} / {p99}".format(**report["play_latency_ms"])),
        ("start-up p50 / p99 (ms)", "{p50} / {p99}".format(**report["qoe"]["startup_ms"])),
        ("rebuffer ratio p50 / p99", "{p50} / {p99}".format(**report["qoe"]["rebuffer_ratio"])),
        ("mean bitrate p50 (kbps)", report["qoe"]["mean_bitrate_kbps"]["p50"]),
        ("OCA changes", report["qoe"]["oca_changes"]),
        ("CPU of this process", f"{report['cpu']['cores_used']:.2f} cores"),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    if report["failed_by_reason"]:
        reasons = ", ".join(f"{k} {n}" for k, n in report["failed_by_reason"].items())
        console.print(f"failures: {reasons}", highlight=False)
    total = sum(report["bytes_by_tier"].values()) or 1
    tiers = ", ".join(
        f"{tier} {n / 1e6:.1f} MB ({100 * n / total:.0f} %)"
        for tier, n in report["bytes_by_tier"].items()
    )
    console.print(f"bytes by tier: {tiers}", highlight=False)


@app.command()
def load(
    viewers: Annotated[int, typer.Option(min=1, max=5000, help="Virtual viewers in all.")] = 20,
    duration: Annotated[float, typer.Option(min=1, max=86400, help="Seconds the run lasts.")] = 60,
    arrival_rate: Annotated[
        float | None,
        typer.Option(min=0.01, help="Viewers arriving per second (default: all in half the run)."),
    ] = None,
    networks: Annotated[
        str, typer.Option(help="Network mix, e.g. isp-a:0.5,isp-b:0.4,other:0.1")
    ] = "isp-a:0.5,isp-b:0.4,other:0.1",
    speed: Annotated[float, typer.Option(min=0.1, max=100, help="Playback speed.")] = 1.0,
    abr: Annotated[str, typer.Option(help="bba or throughput.")] = "bba",
    seed: Annotated[int | None, typer.Option(help="For a repeatable run.")] = None,
    wait_for_title: Annotated[
        float,
        typer.Option(min=0, max=3600, help="Seconds to wait for a playable title (0: start now)."),
    ] = 120,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write the report as a page with charts.")
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="Default: the gateway of the platform in --data-dir.")
    ] = None,
    topology: TopologyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Virtual viewers sign in, browse, play Zipf-popular titles and stop; SPS, failures by
        reason, play latency, QoE and bytes per OCA tier at the end. Right after `reelcloud up` it
    first waits for a title to be playable (`--wait-for-title`)."""
    from rich.live import Live
    from rich.text import Text

    from reelcloud.client.load import LoadGenerator, LoadPlan, parse_mix

    settings = _client_settings(data_dir, topology)
    gateway_url = _gateway_url(settings, gateway, data_dir)
    if settings.topology.openconnect is None:
        raise ReelcloudError("the topology has no Open Connect section: nothing to stream from")
    openconnect = settings.topology.openconnect
    plan = LoadPlan(
        viewers=viewers,
        duration_s=duration,
        arrival_rate=arrival_rate or viewers / (duration / 2),
        networks=parse_mix(networks, openconnect),
        speed=speed,
        abr=abr,
        seed=seed,
        wait_for_title_s=wait_for_title,
    )
    line = Text("starting…")

    def progress(state: dict[str, Any]) -> None:
        if state.get("waiting_for_title"):
            line.plain = (
                f"waiting for a playable title ({state['coming_soon']} coming soon while the "
                "OCAs fill)…"
            )
            return
        line.plain = (
            f"{state['elapsed_s']:6.1f} s │ arrived {state['arrived']}/{viewers} │ "
            f"watching {state['watching']} │ ok {state['succeeded']} │ "
            f"failed {state['failed']} │ SPS {state['sps']:.2f}"
        )

    generator = LoadGenerator(gateway_url, openconnect, plan, on_progress=progress)
    with Live(line, console=err, refresh_per_second=2):
        report = asyncio.run(generator.run())
    _print_load_report(report)
    if json_file is not None:
        json_file.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"report written to {json_file}", highlight=False)
    if html_file is not None:
        from reelcloud.client.load_page import render

        html_file.write_text(render(report))
        console.print(f"report page written to {html_file}", highlight=False)


async def _lake_tables(data_dir: Path | None) -> dict[str, str]:
    body = await _call(data_dir, "pipeline", "GET", "/pipeline/lake", admin=True)
    return {table["name"]: table["metadata_location"] for table in body["tables"]}


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement (DuckDB's dialect).")],
    as_json: Annotated[bool, typer.Option("--json", help="Rows as JSON objects.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """SQL over the data lake: each lake table (plays, play_progress, billing, ...) is a view."""
    import orjson

    from reelcloud.pipeline import query as lake_query

    settings = _with_platform_engines(_settings(data_dir), data_dir)
    tables = asyncio.run(_lake_tables(data_dir))
    if not settings.s3_url:
        raise ReelcloudError("no object store: REELCLOUD_S3_URL is not set")
    db = lake_query.connect(
        tables, settings.s3_url, settings.s3_access_key,
        settings.s3_secret_key.get_secret_value(), settings.s3_region,
    )  # fmt: skip
    try:
        columns, rows = lake_query.run(db, sql)
    except ReelcloudError as exc:
        known = ", ".join(sorted(tables)) or "none yet"
        raise ReelcloudError(f"{exc.message} (lake tables: {known})") from exc
    if as_json:
        out = [dict(zip(columns, row, strict=True)) for row in rows]
        print(orjson.dumps(out, default=str).decode())
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)


def _rows(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*("-" if value is None else str(value) for value in row))
    return table


def _minute(window_start_ms: int) -> str:
    return time.strftime("%H:%M", time.localtime(window_start_ms / 1000))


JsonOption = Annotated[bool, typer.Option("--json", help="The answer as JSON.")]
MinutesOption = Annotated[int, typer.Option("--minutes", help="How many minutes back.")]


@app.command()
def qoe(
    minutes: MinutesOption = 15,
    per_minute: Annotated[
        bool, typer.Option("--per-minute", help="A row per OCA and minute, not per OCA.")
    ] = False,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """QoE per OCA as the players report it: start-up p50/p95, rebuffer ratio, bitrate, errors."""
    span = "minute" if per_minute else "all"
    answer = asyncio.run(_call(data_dir, "jobs", "GET", f"/jobs/qoe?minutes={minutes}&span={span}"))
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    rows = [
        [_minute(r["minute"]), r["oca"], r["startups"], r["startup_p50_ms"], r["startup_p95_ms"],
         r["rebuffer_ratio"], r["mean_bitrate_kbps"], r["errors"], r["reports"]]
        for r in answer["minutes"]
    ]  # fmt: skip
    columns = ["minute" if per_minute else "since", "oca", "plays", "p50 ms", "p95 ms",
               "rebuf", "kbps", "errors", "reports"]  # fmt: skip
    if not rows:
        err.print(f"no QoE reported in the last {minutes} minutes")
    console.print(_rows(columns, rows, title=f"QoE per OCA, last {minutes} min (start-up "
                        "p50/p95, rebuffer ratio, mean bitrate)"))  # fmt: skip


@app.command()
def sps(minutes: MinutesOption = 15, as_json: JsonOption = False,
        data_dir: DataDirOption = None) -> None:  # fmt: skip
    """Stream starts per second, minute by minute, and the plays refused, by reason."""
    answer = asyncio.run(_call(data_dir, "jobs", "GET", f"/jobs/sps?minutes={minutes}"))
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    rows = [
        [_minute(m["minute"]), m["starts"], m["sps"],
         ", ".join(f"{why} {n}" for why, n in m["failures"].items()) or "-"]
        for m in answer["minutes"]
    ]  # fmt: skip
    console.print(_rows(["minute", "starts", "SPS", "refused"], rows, title="Stream starts"))


@app.command()
def trending(
    country: Annotated[str | None, typer.Argument(help="ISO country code, e.g. US.")] = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """The most played titles of the last hour in a country (the countries, without one)."""
    if country is None:
        found = asyncio.run(_call(data_dir, "jobs", "GET", "/jobs/trending"))
        console.print(" ".join(found["countries"]) or "no plays counted yet")
        return
    answer = asyncio.run(_call(data_dir, "jobs", "GET", f"/jobs/trending?country={country}"))
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    title = (f"Trending in {answer['country']}, {_minute(answer['window_start'])}-"
             f"{_minute(answer['window_end'])}")  # fmt: skip
    rows = [[n, t["title_id"], t["plays"]] for n, t in enumerate(answer["titles"], 1)]
    console.print(_rows(["#", "title", "plays"], rows, title=title))


def _since(text: str) -> float:
    """Unix seconds from "15m", "2h", "1d" (ago), an ISO 8601 time, or unix seconds."""
    import datetime

    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    stripped = text.strip()
    if stripped[:-1].isdigit() and stripped[-1:] in units:
        return time.time() - int(stripped[:-1]) * units[stripped[-1]]
    try:
        return float(stripped)
    except ValueError:
        pass
    try:
        at = datetime.datetime.fromisoformat(stripped)
    except ValueError:
        raise ReelcloudError(
            f"--since {text!r}: give 15m, 2h, 1d, an ISO time (2026-12-04T10:00) or unix seconds"
        ) from None
    return (at if at.tzinfo else at.astimezone()).timestamp()


@pipeline_app.command("status")
def pipeline_status(as_json: JsonOption = False, data_dir: DataDirOption = None) -> None:
    """Each route: events delivered, published, duplicates, dead-lettered, lag, problems."""
    answer = asyncio.run(_call(data_dir, "pipeline", "GET", "/pipeline/status", admin=True))
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    rows = [
        [r["name"], r["topic"] or ("off" if r["topic_off"] else "-"), r["delivered"],
         r["published"], r["duplicates"], r["dead_lettered"], r["errors"], r["pending"],
         r["problem"] or "ok"]
        for r in answer["routes"]
    ]  # fmt: skip
    # lake: rows written; records: onto the topic; dups: events the lake already held
    columns = ["route", "topic", "lake", "records", "dups", "dead", "errors", "lag", "state"]
    console.print(_rows(columns, rows, title=f"Routes ({answer['routes_file']})"))
    if answer["routes_error"]:
        err.print(f"[red]the last edit of the routes was refused:[/] {answer['routes_error']}")


@pipeline_app.command("replay")
def pipeline_replay(
    route: Annotated[str, typer.Option("--route", help="The route to replay.")],
    since: Annotated[str, typer.Option("--since", help="15m, 2h, 1d, an ISO time, unix s.")],
    data_dir: DataDirOption = None,
) -> None:
    """Deliver a route's events since then again: the lake takes only what it lacks."""
    body = {"route": route, "since": _since(since)}
    answer = asyncio.run(_call(data_dir, "pipeline", "POST", "/pipeline/replay", admin=True,
                               body=body, timeout_s=3600))  # fmt: skip
    console.print(
        f"route {answer['route']}: read {answer['read']} events again, {answer['delivered']} "
        f"were missing from the lake, {answer['duplicates']} it had",
        highlight=False,
    )


@config_app.command("show")
def config_show(topology: TopologyOption = None, data_dir: DataDirOption = None) -> None:
    """Print the effective settings, secrets masked."""
    sys.stdout.write(
        json.dumps(_settings(data_dir, topology).masked(), indent=2, default=str) + "\n"
    )


def main() -> None:
    try:
        app()
    except ReelcloudError as exc:
        err.print(f"[red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
