"""Static checks of the production deployment files: no docker needed.

- docker-compose.yml validates against the official compose-spec schema (vendored next to this
  file: compose-spec/compose-spec, schema/compose-spec.json, JSON Schema draft-07);
- structural rules of the stack (health checks, start order, KRaft, per-component env prefixes...);
- every Dockerfile only COPYs paths that exist in the build context (the repository root) and that
  .dockerignore does not drop, and starts a module that exists;
- the PostgreSQL init script creates exactly the databases the components are configured to use.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")
LOCK_FILE = ROOT / "requirements.lock"

# component -> (directory in the repository, port)
COMPONENTS: dict[str, tuple[str, int]] = {
    "participants": ("services/participants", 8001),
    "matching": ("services/matching", 8002),
    "clauses": ("services/clauses", 8003),
    "funding": ("services/funding", 8004),
    "gateway": ("gateway", 8000),
}
SERVICES = ["participants", "matching", "clauses", "funding"]
COMMON_SETTINGS = ["DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "IDENTITY_SECRET", "KAFKA_PARTITIONS", "LOG_LEVEL"]
GATEWAY_SETTINGS = ["REDIS_URL", *(f"{name.upper()}_URL" for name in SERVICES)]

component_params = pytest.mark.parametrize("component", list(COMPONENTS))


# ---------------------------------------------------------------------------------------------- loading


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@cache
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def environment(svc: dict) -> dict[str, str]:
    """`environment:` as a dict, whichever of the two compose forms is used."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {key: value for key, value in pairs}
    return {key: (None if value is None else str(value)) for key, value in env.items()}


def healthcheck_command(svc: dict) -> str:
    test = (svc.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def volume_mounts(svc: dict) -> list[tuple[str, str]]:
    """(source, target) of each mount, short or long syntax."""
    mounts = []
    for volume in svc.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
        else:
            mounts.append((volume.get("source", ""), volume["target"]))
    return mounts


def is_named_volume(source: str) -> bool:
    return bool(source) and not source.startswith((".", "/", "~", "$"))


DATABASE_URL = re.compile(
    r"^(?P<scheme>[a-z0-9+]+)://(?P<user>[^:@/]+):(?P<password>.+)@(?P<host>[^:@/]+):(?P<port>\d+)/(?P<db>[^/?#]+)$"
)


def database_url(component: str) -> re.Match:
    url = environment(service(component)).get(f"{component.upper()}_DATABASE_URL") or ""
    match = DATABASE_URL.match(url)
    assert match, f"{component}: unexpected DATABASE_URL {url!r}"
    return match


# ---------------------------------------------------------------------------------------------- Dockerfile parsing


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by stage; handles comments and backslash continuations."""
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by the builder too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical, pending = pending + stripped, ""
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
        else:
            assert stages, f"line {start}: {instruction.keyword} before any FROM"
            stages[-1].instructions.append(instruction)
    assert not pending, "Dockerfile ends with a line continuation"
    return stages


def split_args(args: str) -> list[str]:
    """Exec (JSON array) form or shell-words form."""
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
        return value
    return shlex.split(args)


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """(flags, sources, destination) of a COPY/ADD."""
    words = split_args(instruction.args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    assert len(words) >= 2, f"line {instruction.line}: {instruction.keyword} needs a source and a destination"
    return flags, words[:-1], words[-1]


def normalise(path: str) -> str:
    """A context-relative path as the builder sees it: no leading ./ or /, no trailing /."""
    cleaned = str(PurePosixPath("/" + path.strip()))  # collapses ./ and //
    return cleaned.lstrip("/") or "."


@cache
def dockerfile(component: str) -> list[Stage]:
    path = ROOT / COMPONENTS[component][0] / "Dockerfile"
    assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    return parse_dockerfile(path.read_text(encoding="utf-8"))


def context_copies(component: str) -> list[tuple[Instruction, list[str], str]]:
    """COPY/ADD instructions that read from the build context (not --from another stage)."""
    found = []
    for stage in dockerfile(component):
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD"):
                flags, sources, dest = copy_parts(instruction)
                if "from" not in flags:
                    found.append((instruction, sources, dest))
    return found


def final_cmd(component: str) -> list[str]:
    cmds = dockerfile(component)[-1].all("CMD")
    assert cmds, f"{component}: the final stage has no CMD"
    args = cmds[-1].args
    assert args.startswith("["), f"{component}: CMD must use the exec (JSON) form so uvicorn is PID 1 and gets SIGTERM"
    return split_args(args)


# ---------------------------------------------------------------------------------------------- .dockerignore


def dockerignore_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker's patternmatcher compiles it (Go filepath.Match plus `**`)."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1
                    out += "(?:.*/)?"
                else:
                    out += ".*"
            else:
                out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


@cache
def dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    path = ROOT / ".dockerignore"
    assert path.is_file(), "missing .dockerignore at the repository root (the build context)"
    rules = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = normalise(line[1:].strip() if negated else line)
        rules.append((negated, dockerignore_regex(line)))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern]] | None = None) -> bool:
    """True if the build context would not contain `path` (it or a parent directory is excluded)."""
    rules = dockerignore_rules() if rules is None else rules
    parts = normalise(path).split("/")
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth])
        excluded = False
        for negated, regex in rules:  # the last matching rule wins
            if regex.match(candidate):
                excluded = not negated
        if excluded:
            return True
    return False


# ================================================================================================ (a) compose-spec


def test_vendored_schema_is_the_compose_spec():
    spec = schema()
    jsonschema.Draft7Validator.check_schema(spec)
    assert spec["title"] == "Compose Specification"
    assert {"service", "healthcheck", "network", "volume"} <= set(spec["definitions"])


def schema_errors(document: dict) -> list[str]:
    # The file declares draft-07 as "https://json-schema.org/draft-07/schema", which jsonschema
    # does not auto-detect: pick the draft explicitly.
    validator = jsonschema.Draft7Validator(schema())
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_compose_file_validates_against_the_compose_spec():
    errors = schema_errors(compose())
    assert not errors, "docker-compose.yml does not follow the compose-spec:\n" + "\n".join(errors)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda doc: doc["services"]["gateway"].update(helthcheck={"test": ["CMD", "true"]}),
        lambda doc: doc["services"]["gateway"]["depends_on"]["participants"].update(condition="service_ready"),
        lambda doc: doc["services"]["kafka"].update(environment={"KAFKA_NODE_ID": {"nested": 1}}),
        lambda doc: doc.update(volume={"postgres-data": None}),
    ],
    ids=["unknown-service-key", "bad-depends-on-condition", "env-value-not-scalar", "unknown-top-level-key"],
)
def test_schema_validation_rejects_broken_variants(mutate):
    """The validation above is live: the same file, broken on purpose, is rejected."""
    broken = copy.deepcopy(compose())
    mutate(broken)
    assert schema_errors(broken)


# ================================================================================================ (b) structure


def test_stack_has_the_expected_services():
    services = compose()["services"]
    assert {"kafka", "postgres", "redis", *COMPONENTS} <= set(services)
    built = {name for name, svc in services.items() if "build" in svc}
    assert built == set(COMPONENTS), "exactly the five components are built from this repository"


@component_params
def test_component_is_built_from_its_dockerfile_in_the_repository_context(component):
    build = service(component)["build"]
    assert isinstance(build, dict), "use the long build syntax (context + dockerfile)"
    assert normalise(build.get("context", ".")) == ".", "the build context is the repository root"
    expected = f"{COMPONENTS[component][0]}/Dockerfile"
    assert normalise(build.get("dockerfile", "Dockerfile")) == expected
    assert (ROOT / expected).is_file()


def test_every_built_service_has_a_healthcheck():
    for name, svc in compose()["services"].items():
        if "build" not in svc:
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert healthcheck_command(svc).split()[0] != "NONE", f"{name}: healthcheck is NONE"


@component_params
def test_component_healthcheck_probes_healthz_on_its_port_without_curl(component):
    command = healthcheck_command(service(component))
    port = COMPONENTS[component][1]
    assert f":{port}/healthz" in command, f"{component}: healthcheck must probe /healthz on port {port}: {command}"
    assert "curl" not in command and "wget" not in command, "python:3.11-slim has neither curl nor wget"
    assert "python" in command


def test_every_service_has_a_restart_policy():
    for name, svc in compose()["services"].items():
        assert svc.get("restart") in ("always", "unless-stopped", "on-failure"), f"{name}: restart policy missing"


def test_every_dependency_waits_for_a_healthy_service():
    services = compose()["services"]
    for name, svc in services.items():
        depends_on = svc.get("depends_on")
        if depends_on is None:
            continue
        assert isinstance(depends_on, dict), f"{name}: list-form depends_on only waits for 'started'"
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert spec.get("condition") == "service_healthy", f"{name} -> {target}: condition must be service_healthy"
            assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no healthcheck"


def test_components_wait_for_postgres_and_kafka():
    for component in COMPONENTS:
        assert {"postgres", "kafka"} <= set(service(component).get("depends_on") or {}), component


def test_gateway_depends_on_the_four_services_and_redis():
    assert {*SERVICES, "redis"} <= set(service("gateway").get("depends_on") or {})


def test_only_the_gateway_is_published_on_the_host():
    for name, svc in compose()["services"].items():
        if name != "gateway":
            assert not svc.get("ports"), f"{name} should stay inside the compose network (see the header comment)"
    ports = service("gateway").get("ports") or []
    targets = {str(p["target"]) if isinstance(p, dict) else str(p).rsplit(":", 1)[-1].split("/")[0] for p in ports}
    assert targets == {"8000"}, f"gateway must publish container port 8000, got {ports}"


def test_kafka_runs_single_node_kraft():
    services = compose()["services"]
    for name, svc in services.items():
        assert "zookeeper" not in name.lower() and "zookeeper" not in str(svc.get("image", "")).lower(), name
    kafka = service("kafka")
    assert kafka.get("image") == "apache/kafka:3.9.0"
    env = environment(kafka)
    assert not any("ZOOKEEPER" in key for key in env), "KRaft mode: no ZooKeeper settings"
    assert set(env.get("KAFKA_PROCESS_ROLES", "").split(",")) == {"broker", "controller"}
    assert env.get("CLUSTER_ID"), "the apache/kafka image refuses KRaft mode without CLUSTER_ID"

    node_id = env.get("KAFKA_NODE_ID")
    voters = env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").split(",")
    assert len(voters) == 1 and voters[0].split("@")[0] == node_id, f"voters {voters} vs node id {node_id}"
    controller_port = voters[0].rsplit(":", 1)[-1]

    controller_names = env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "").split(",")
    listeners = dict(item.split("://", 1) for item in env.get("KAFKA_LISTENERS", "").split(","))
    protocol_map = dict(item.split(":", 1) for item in env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(","))
    for name in controller_names:
        assert name in listeners and listeners[name].endswith(f":{controller_port}"), f"controller listener {name}"
    for name in listeners:
        assert name in protocol_map, f"listener {name} missing from KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"
    advertised = dict(item.split("://", 1) for item in env.get("KAFKA_ADVERTISED_LISTENERS", "").split(","))
    assert not set(advertised) & set(controller_names), "a controller listener must not be advertised"
    assert env.get("KAFKA_INTER_BROKER_LISTENER_NAME") in advertised
    assert env.get("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR") == "1", "one broker: replication factor 1"

    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in healthcheck_command(kafka)
    log_dirs = env.get("KAFKA_LOG_DIRS")
    assert log_dirs and any(is_named_volume(src) and tgt == log_dirs for src, tgt in volume_mounts(kafka)), (
        "KAFKA_LOG_DIRS must live on a named volume"
    )


def test_components_bootstrap_from_the_advertised_kafka_listener():
    advertised = {
        address.split("://", 1)[1]
        for address in environment(service("kafka")).get("KAFKA_ADVERTISED_LISTENERS", "").split(",")
    }
    for component in COMPONENTS:
        servers = environment(service(component)).get(f"{component.upper()}_KAFKA_BOOTSTRAP_SERVERS", "")
        assert servers and set(servers.split(",")) <= advertised, f"{component}: {servers!r} not in {advertised}"


def test_postgres_16_with_init_script_and_data_volume():
    postgres = service("postgres")
    assert str(postgres.get("image", "")).startswith("postgres:16")
    assert "pg_isready" in healthcheck_command(postgres)
    mounts = volume_mounts(postgres)
    assert any(is_named_volume(src) and tgt == "/var/lib/postgresql/data" for src, tgt in mounts)
    scripts = [(src, tgt) for src, tgt in mounts if tgt.startswith("/docker-entrypoint-initdb.d/")]
    assert len(scripts) == 1, f"expected one init script mounted into /docker-entrypoint-initdb.d/, got {scripts}"
    source, target = scripts[0]
    assert (COMPOSE_FILE.parent / source).is_file(), f"{source} does not exist"
    assert target.endswith((".sh", ".sql")), "the postgres entrypoint only runs *.sh, *.sql(.gz|.xz|.zst)"
    assert normalise(source).startswith("deploy/")


def test_redis_7_with_healthcheck_for_the_gateway():
    redis = service("redis")
    assert str(redis.get("image", "")).startswith("redis:7")
    assert "redis-cli" in healthcheck_command(redis) and "ping" in healthcheck_command(redis)
    url = environment(service("gateway")).get("GATEWAY_REDIS_URL", "")
    assert re.match(r"^redis://redis:6379(/\d+)?$", url), url


def test_named_volumes_are_declared_and_used():
    declared = set(compose().get("volumes") or {})
    used = {src for svc in compose()["services"].values() for src, _ in volume_mounts(svc) if is_named_volume(src)}
    assert used == declared
    assert len(declared) >= 2, "postgres and kafka data need named volumes"


@component_params
def test_component_environment_uses_only_its_prefix(component):
    env = environment(service(component))
    prefix = f"{component.upper()}_"
    strays = sorted(key for key in env if not key.startswith(prefix))
    assert not strays, f"{component}: settings are read from {prefix}* only, these are ignored: {strays}"
    required = COMMON_SETTINGS + (GATEWAY_SETTINGS if component == "gateway" else [])
    missing = [f"{prefix}{key}" for key in required if not env.get(f"{prefix}{key}")]
    assert not missing, f"{component}: missing {missing}"
    assert env[f"{prefix}KAFKA_PARTITIONS"] == "6"


def test_identity_secret_is_shared_and_comes_from_the_environment():
    values = {environment(service(c)).get(f"{c.upper()}_IDENTITY_SECRET") for c in COMPONENTS}
    assert len(values) == 1, f"the gateway and every service must share one identity secret: {values}"
    (value,) = values
    assert re.fullmatch(r"\$\{TREMPLIN_IDENTITY_SECRET(:[?-].*)?\}", value or ""), value


@component_params
def test_component_database_url_points_at_its_own_postgres_database(component):
    url = database_url(component)
    assert url["scheme"] == "postgresql+asyncpg"
    assert url["host"] == "postgres" and url["port"] == "5432"
    assert url["db"] == component and url["user"] == component


@pytest.mark.parametrize("upstream", SERVICES)
def test_gateway_upstream_urls_match_the_services_dockerfiles(upstream):
    cmd = final_cmd(upstream)
    port = cmd[cmd.index("--port") + 1]
    url = environment(service("gateway")).get(f"GATEWAY_{upstream.upper()}_URL")
    assert url == f"http://{upstream}:{port}"


# ================================================================================================ (c) Dockerfiles


@component_params
def test_dockerfile_copies_only_existing_unignored_context_paths(component):
    copies = context_copies(component)
    assert copies, f"{component}: no COPY from the build context"
    for instruction, sources, _ in copies:
        for source in sources:
            assert not source.startswith(("http://", "https://", "git@")), f"line {instruction.line}: remote {source}"
            path = normalise(source)
            assert path != ".." and not path.startswith("../"), f"line {instruction.line}: {source} leaves the context"
            matches = sorted(ROOT.glob(path)) if any(c in path for c in "*?[") else [ROOT / path]
            assert matches and all(m.exists() for m in matches), (
                f"{component}/Dockerfile line {instruction.line}: {source} does not exist in the build context"
            )
            for match in matches:
                relative = match.relative_to(ROOT).as_posix()
                assert not ignored(relative), f"line {instruction.line}: {relative} is excluded by .dockerignore"


ARTIFACT_DIRS = {"__pycache__", ".venv", "venv", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis"}
TOP_LEVEL_ARTIFACT_DIRS = {"build", "dist", "var"}


@component_params
def test_dockerignore_keeps_every_source_file_the_image_needs(component):
    """No .py/.mako/.ini/.toml under a copied directory is silently dropped from the context."""
    for _, sources, _ in context_copies(component):
        for source in sources:
            base = ROOT / normalise(source)
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                relative_parts = path.relative_to(base).parts
                if any(p in ARTIFACT_DIRS or p.endswith(".egg-info") for p in relative_parts[:-1]):
                    continue
                if relative_parts[0] in TOP_LEVEL_ARTIFACT_DIRS and len(relative_parts) > 1:
                    continue
                if path.is_file() and path.suffix in (".py", ".mako", ".ini", ".toml"):
                    relative = path.relative_to(ROOT).as_posix()
                    assert not ignored(relative), f"{relative} is needed in the image but .dockerignore drops it"


def test_dockerignore_keeps_local_junk_out_of_the_context():
    for path in [
        ".venv/bin/python",
        "var/participants.db",
        ".git/HEAD",
        "shared/tremplin_shared/__pycache__/x.pyc",
        "services/participants/tremplin_participants.egg-info/PKG-INFO",
        ".pytest_cache/v",
        ".env",
    ]:
        assert ignored(path), f"{path} should not be sent to the docker daemon"


@component_params
def test_dockerfile_installs_shared_and_the_component_with_the_lock_as_constraints(component):
    directory = COMPONENTS[component][0]
    copied = {normalise(source) for _, sources, _ in context_copies(component) for source in sources}
    assert {"requirements.lock", "shared", directory} <= copied, f"{component}: copies {copied}"

    installs = [
        split_args(run.args)
        for stage in dockerfile(component)
        for run in stage.all("RUN")
        if re.search(r"\bpip\b.*\binstall\b", run.args)
    ]
    assert len(installs) == 1, f"{component}: expected one pip install, got {installs}"
    words = installs[0]
    assert "--no-cache-dir" in words
    constraint = words[words.index("-c") + 1] if "-c" in words else words[words.index("--constraint") + 1]
    assert normalise(constraint) == "requirements.lock"
    local = [normalise(w) for w in words if w.startswith("./")]
    assert local == ["shared", directory], f"{component}: installs {local}"
    for project in local:
        assert (ROOT / project / "pyproject.toml").is_file(), f"{project}/pyproject.toml is missing"


@component_params
def test_dockerfile_base_image_user_port_and_cmd(component):
    port = COMPONENTS[component][1]
    stages = dockerfile(component)
    for stage in stages:
        assert stage.image == "python:3.11-slim", f"{component}: FROM {stage.image}"
    final = stages[-1]
    users = final.all("USER")
    assert users, f"{component}: the final stage runs as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), f"{component}: USER {user}"
    exposed = {word.split("/")[0] for expose in final.all("EXPOSE") for word in expose.args.split()}
    assert exposed == {str(port)}, f"{component}: EXPOSE {exposed}"

    module = f"tremplin_{component}"
    assert final_cmd(component) == ["uvicorn", f"{module}.main:app", "--host", "0.0.0.0", "--port", str(port)]


@component_params
def test_cmd_module_exists_in_a_copied_directory(component):
    directory = COMPONENTS[component][0]
    target = final_cmd(component)[1]
    module_path, _, attribute = target.partition(":")
    assert attribute, f"{component}: {target} has no :attribute"
    package, *rest = module_path.split(".")
    package_dir = ROOT / directory / package
    assert package_dir.is_dir(), f"{package_dir.relative_to(ROOT)}/ does not exist"
    module = package_dir.joinpath(*rest)
    assert module.with_suffix(".py").is_file() or (module / "__init__.py").is_file(), f"{module_path} not found"
    copied = {normalise(source) for _, sources, _ in context_copies(component) for source in sources}
    relative = package_dir.relative_to(ROOT).as_posix()
    assert any(relative == c or relative.startswith(c + "/") for c in copied), f"{relative} is never copied"


def test_requirements_lock_is_a_valid_constraints_file_covering_the_dependencies():
    assert LOCK_FILE.is_file(), "requirements.lock is missing at the repository root"
    pinned = {}
    for number, raw in enumerate(LOCK_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==[^\s;@]+(\s*;.*)?(\s+--hash=\S+)*$", line)
        assert match, f"requirements.lock:{number}: pip rejects {raw!r} as a constraint (name==version only)"
        pinned[canonical(match[1])] = number
    local = sorted(name for name in pinned if name.startswith("tremplin-"))
    assert not local, f"requirements.lock pins local packages {local}: they are installed from ./shared etc."

    declared = set()
    for project in ["shared", *(directory for directory, _ in COMPONENTS.values())]:
        data = tomllib.loads((ROOT / project / "pyproject.toml").read_text(encoding="utf-8"))
        for requirement in data["project"].get("dependencies", []):
            declared.add(canonical(re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0]))
    missing = sorted(name for name in declared if not name.startswith("tremplin-") and name not in pinned)
    assert not missing, f"dependencies without a pinned version in requirements.lock: {missing}"
    assert "uvicorn" in pinned, "the images start uvicorn"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ================================================================================================ (d) PostgreSQL init


def init_script() -> str:
    (source,) = [
        src for src, tgt in volume_mounts(service("postgres")) if tgt.startswith("/docker-entrypoint-initdb.d/")
    ]
    text = (COMPOSE_FILE.parent / source).read_text(encoding="utf-8")
    # Drop shell and SQL comments so commented-out statements do not count.
    lines = [line.split("--", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines)


def test_init_script_creates_exactly_the_configured_databases():
    sql = init_script()
    created = re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE)
    configured = [database_url(component)["db"] for component in COMPONENTS]
    assert sorted(created) == sorted(configured), f"init script creates {created}, compose uses {configured}"
    assert len(set(configured)) == len(COMPONENTS), "one database per component"


@component_params
def test_init_script_gives_each_component_its_own_role_and_database(component):
    sql = init_script()
    url = database_url(component)
    db, user = url["db"], url["user"]

    owner = re.search(rf"CREATE\s+DATABASE\s+\"?{db}\"?\s+(?:WITH\s+)?OWNER\s*=?\s*\"?(\w+)\"?", sql, re.IGNORECASE)
    assert owner and owner[1] == user, f"database {db} must be owned by role {user}"
    role = re.search(rf"CREATE\s+(?P<kind>ROLE|USER)\s+\"?{user}\"?\s+([^;]*);", sql, re.IGNORECASE)
    assert role, f"role {user} is never created"
    can_login = role["kind"].upper() == "USER" or re.search(r"\bLOGIN\b", role[2], re.IGNORECASE)
    assert can_login and not re.search(r"\bNOLOGIN\b", role[2], re.IGNORECASE), f"role {user} cannot log in"
    assert re.search(r"\bPASSWORD\b", role[2], re.IGNORECASE), f"role {user} has no password"
    revoke = rf"REVOKE\s+(?:ALL|[\w\s,]*\bCONNECT\b[\w\s,]*)\s+ON\s+DATABASE\s+\"?{db}\"?\s+FROM\s+PUBLIC"
    assert re.search(revoke, sql, re.IGNORECASE), f"CONNECT on {db} must be revoked from PUBLIC"

    # The password the component presents is the one the role was created with.
    literal = re.search(r"PASSWORD\s+'([^']*)'", role[2])
    if literal:
        assert url["password"] == literal[1], f"{component}: DATABASE_URL password differs from the init script's"
    else:
        variable = re.search(r"PASSWORD\s+:'(\w+)'", role[2])
        assert variable, f"role {user}: password is neither a literal nor a psql :'variable'"
        binding = re.search(rf"-v\s+{variable[1]}=\"\$\{{(\w+)", init_script())
        assert binding, f"psql variable {variable[1]} is never set from the environment"
        variable_name = binding[1]
        postgres_env = environment(service("postgres"))
        assert variable_name in postgres_env, f"the postgres container does not receive {variable_name}"
        assert postgres_env[variable_name] == url["password"], (
            f"{component}: DATABASE_URL password {url['password']!r}"
            f" != postgres {variable_name}={postgres_env[variable_name]!r}"
        )


# ================================================================================================ helpers under test


def test_dockerfile_parser_handles_stages_continuations_and_flags():
    stages = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nFROM python:3.11-slim AS build\nRUN a \\\n  # note\n  && b\n"
        'COPY --chown=1:1 x/ y ./dst/\nFROM python:3.11-slim\nCOPY --from=build /a /a\nCMD ["uvicorn", "m:app"]\n'
    )
    assert [s.name for s in stages] == ["build", None]
    assert stages[0].all("RUN")[0].args == "a && b"
    assert copy_parts(stages[0].all("COPY")[0]) == ({"chown": "1:1"}, ["x/", "y"], "./dst/")
    assert copy_parts(stages[1].all("COPY")[0])[0] == {"from": "build"}


def test_dockerignore_matcher_follows_docker_semantics():
    rules = [(False, dockerignore_regex(normalise(p))) for p in ["**/__pycache__", "*.md", "var", "docs/**/*.png"]] + [
        (True, dockerignore_regex("README.md"))
    ]
    assert ignored("a/b/__pycache__/c.pyc", rules) and ignored("__pycache__", rules)
    assert ignored("NOTES.md", rules) and not ignored("README.md", rules) and not ignored("sub/NOTES.md", rules)
    assert ignored("var/x.db", rules) and not ignored("services/var.py", rules)
    assert ignored("docs/a/b/c.png", rules) and ignored("docs/c.png", rules) and not ignored("docs/c.svg", rules)
