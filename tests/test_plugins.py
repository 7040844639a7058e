"""load_plugin: only allowed, non-stdlib subclasses of the expected base are ever imported and returned."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mllmshift.encoders import Encoder
from mllmshift.plugins import PluginError, declaring_packages, load_plugin
from mllmshift.registry import Registry
from mllmshift.responders import Responder

REPO = Path(__file__).resolve().parents[1]

ENCODER_SOURCE = """
import numpy as np
from mllmshift.encoders import Encoder

class {cls}(Encoder):
    name = "{name}"
    dim = 3

    def _encode_batch(self, items):
        return np.ones((len(items), 3))

class NotAnEncoder:
    pass
"""


def _module(root: Path, dotted: str, body: str) -> None:
    """Write ``dotted`` (``pkg.sub.mod``) under ``root`` with packages as needed."""
    parts = dotted.split(".")
    folder = root.joinpath(*parts[:-1])
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, len(parts)):
        init = root.joinpath(*parts[:i], "__init__.py")
        if not init.exists():
            init.write_text("")
    (folder / f"{parts[-1]}.py").write_text(textwrap.dedent(body))


@pytest.fixture
def plugin_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] in ("localplug", "nestedplug", "fakeplug", "sneaky")]:
        del sys.modules[name]


def test_subprocess_run_from_a_config_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for allowed in ((), ("subprocess",), ("subprocess:run",)):
        with pytest.raises(PluginError, match="standard library") as err:
            load_plugin("subprocess:run", Encoder, "encoders", allowed=allowed)
        assert "subprocess" in str(err.value)
    assert not marker.exists()
    # through the command line, with the options of the report's config, too: a clear error, no traceback
    code = ("from mllmshift.plugins import load_plugin; from mllmshift.encoders import Encoder\n"
            f"load_plugin('subprocess:run', Encoder, 'encoders')(args='touch {marker}', shell=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode != 0 and "PluginError" in proc.stderr and "standard library" in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("target", ["collections:OrderedDict", "json.decoder:JSONDecoder", "builtins:object",
                                    "os:system", "shutil:rmtree"])
def test_stdlib_targets_are_refused_even_when_listed(target: str) -> None:
    module = target.split(":")[0]
    with pytest.raises(PluginError, match="standard library"):
        load_plugin(target, Encoder, "encoders", allowed=[module, module.split(".")[0]])


@pytest.mark.parametrize("target", ["subprocess", "a:b:c", "mod:", ":Cls", "pkg..mod:Cls", "mod:Cls()", "", "m:1x"])
def test_malformed_targets_are_errors(target: str) -> None:
    with pytest.raises(PluginError, match="package.module:Class"):
        load_plugin(target, Encoder, "encoders", allowed=["subprocess", "mod", "pkg", "m"])


def test_an_unlisted_local_module_is_not_even_imported(plugin_root: Path) -> None:
    marker = plugin_root / "imported"
    _module(plugin_root, "sneaky", f"open({str(marker)!r}, 'w').write('x')\nclass E: pass\n")
    with pytest.raises(PluginError) as err:
        load_plugin("sneaky:E", Encoder, "encoders")
    msg = str(err.value)
    assert "not allowed" in msg and "plugins: [sneaky]" in msg and "--allow-plugin sneaky" in msg
    assert "mllmshift.encoders" in msg
    assert not marker.exists() and "sneaky" not in sys.modules


def test_an_allowed_local_module_loads_and_must_subclass_the_base(plugin_root: Path) -> None:
    _module(plugin_root, "localplug", ENCODER_SOURCE.format(cls="LocalEncoder", name="local"))
    cls = load_plugin("localplug:LocalEncoder", Encoder, "encoders", allowed=["localplug"])
    assert issubclass(cls, Encoder) and cls.__name__ == "LocalEncoder"
    assert cls().encode(["a", "b"]).shape == (2, 3)
    with pytest.raises(PluginError, match="not a subclass of mllmshift.encoders.base.Encoder"):
        load_plugin("localplug:NotAnEncoder", Encoder, "encoders", allowed=["localplug"])
    with pytest.raises(PluginError, match="not a subclass of mllmshift.responders.base.Responder"):
        load_plugin("localplug:LocalEncoder", Responder, "responders", allowed=["localplug"])
    with pytest.raises(PluginError, match="a ndarray|is a module|not a class"):
        load_plugin("localplug:np", Encoder, "encoders", allowed=["localplug"])
    with pytest.raises(PluginError, match="has no attribute 'Missing'"):
        load_plugin("localplug:Missing", Encoder, "encoders", allowed=["localplug"])


def test_a_parent_package_in_the_allow_list_allows_its_modules(plugin_root: Path) -> None:
    _module(plugin_root, "nestedplug.sub.enc", ENCODER_SOURCE.format(cls="Deep", name="deep"))
    assert load_plugin("nestedplug.sub.enc:Deep", Encoder, "encoders", allowed=["nestedplug"]).name == "deep"
    assert load_plugin("nestedplug.sub.enc:Deep", Encoder, "encoders", allowed=["nestedplug.sub"]).name == "deep"
    with pytest.raises(PluginError, match="not allowed"):  # a sibling prefix is not a parent package
        load_plugin("nestedplug.sub.enc:Deep", Encoder, "encoders", allowed=["nestedplug.su", "nested"])


def test_a_reexported_stdlib_class_is_refused(plugin_root: Path) -> None:
    _module(plugin_root, "localplug", "from collections import OrderedDict\n")
    with pytest.raises(PluginError, match="standard library"):
        load_plugin("localplug:OrderedDict", object, "encoders", allowed=["localplug"])


def test_a_missing_allowed_module_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match="cannot import 'surely_absent_pkg_x.mod'"):
        load_plugin("surely_absent_pkg_x.mod:Enc", Encoder, "encoders", allowed=["surely_absent_pkg_x"])


def test_own_classes_are_allowed() -> None:
    from mllmshift.encoders.hashing import HashingBOW

    assert load_plugin("mllmshift.encoders.hashing:HashingBOW", Encoder, "encoders") is HashingBOW


def _fake_distribution(root: Path) -> None:
    """An installed distribution 'fakeplug' declaring one encoder entry point (metadata on sys.path)."""
    _module(root, "fakeplug.enc", ENCODER_SOURCE.format(cls="FakeEncoder", name="fake"))
    _module(root, "fakeplug.other", ENCODER_SOURCE.format(cls="Other", name="other"))
    info = root / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mllmshift.encoders]\nfake-enc = fakeplug.enc:FakeEncoder\n"
                                           "use-multilingual = fakeplug.enc:FakeEncoder\n")


def test_a_package_declaring_an_entry_point_loads_without_an_allow_list(plugin_root: Path) -> None:
    _fake_distribution(plugin_root)
    assert "fakeplug" in declaring_packages("encoders")
    assert "fakeplug" not in declaring_packages("responders")
    assert load_plugin("fakeplug.enc:FakeEncoder", Encoder, "encoders").__name__ == "FakeEncoder"
    assert load_plugin("fakeplug.other:Other", Encoder, "encoders").__name__ == "Other"
    with pytest.raises(PluginError, match="not allowed"):  # declared for encoders only
        load_plugin("fakeplug.enc:FakeEncoder", Responder, "responders")


def test_entry_points_appear_in_a_registry_and_never_shadow_a_builtin(plugin_root: Path) -> None:
    from mllmshift.errors import MllmshiftWarning

    _fake_distribution(plugin_root)
    reg: Registry = Registry("encoder", plugin_kind="encoders", base=Encoder)
    reg.register("use-multilingual", "mllmshift.encoders.use_multilingual:USEMultilingual")
    with pytest.warns(MllmshiftWarning, match="'use-multilingual' of 'fakeplug' has the name of a built-in"):
        names = reg.names()
    assert names == ["fake-enc", "use-multilingual"]
    entry = {e.name: e for e in reg.entries()}["fake-enc"]
    assert entry.plugin == "fakeplug" and entry.target == "fakeplug.enc:FakeEncoder"
    assert reg.get("fake-enc").__name__ == "FakeEncoder"
    assert reg.create("fake-enc").encode(["x"]).shape == (1, 3)
    assert {e.name: e for e in reg.entries()}["use-multilingual"].plugin is None


def test_a_plugin_entry_point_that_is_not_a_subclass_fails_when_used(plugin_root: Path) -> None:
    _module(plugin_root, "fakeplug.enc", ENCODER_SOURCE.format(cls="FakeEncoder", name="fake"))
    info = plugin_root / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mllmshift.responders]\nbad = fakeplug.enc:FakeEncoder\n")
    reg: Registry = Registry("responder", plugin_kind="responders", base=Responder)
    assert "bad" in reg
    with pytest.raises(PluginError, match="not a subclass of mllmshift.responders.base.Responder"):
        reg.get("bad")


def test_encoders_list_shows_an_installed_plugin(tmp_path: Path) -> None:
    _fake_distribution(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src")])}
    proc = subprocess.run([sys.executable, "-m", "mllmshift.cli.main", "encoders", "list"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(row for row in proc.stdout.splitlines() if row.startswith("fake-enc"))
    assert "text" in line and "3" in line.split() and "plugin from fakeplug" in line


# ------------------------------------------------------------------------ through configs and verbs
SUBPROCESS_CONFIG = """\
id: id.jsonl
scenarios: [ood.jsonl]
encoders:
  text: {{name: "subprocess:run", options: {{args: "touch {marker}", shell: true}}}}
{extra}"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "mllmshift.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.mark.parametrize("extra", ["", "plugins: [subprocess]\n"])
def test_a_study_config_naming_subprocess_run_fails_before_anything_runs(tmp_path: Path, extra: str) -> None:
    """The issue's case through `mllmshift study`: exit 1, the field and its line named, no traceback, the
    command never run, and no output folder (the config is refused when it is read)."""
    marker, out = tmp_path / "pwned", tmp_path / "out"
    for name in ("id.jsonl", "ood.jsonl"):
        (tmp_path / name).write_text('{"id": "a", "question": "q", "response": "r", "reference": "y"}\n')
    cfg = tmp_path / "study.yaml"
    cfg.write_text(SUBPROCESS_CONFIG.format(marker=marker, extra=extra))
    proc = _cli("study", str(cfg), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{cfg}:4: field 'encoders.text':" in proc.stderr and "standard library" in proc.stderr
    assert not marker.exists() and not out.exists()


def test_a_verb_naming_subprocess_run_fails_before_reading_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    proc = _cli("emi", "missing.jsonl", "--text-encoder", "subprocess:run", "--text-encoder-option",
                f"args=touch {marker}", "--text-encoder-option", "shell=true", "--allow-plugin", "subprocess",
                cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "field '--text-encoder':" in proc.stderr and "standard library" in proc.stderr
    assert not marker.exists()


def test_a_config_loads_a_local_encoder_only_from_its_allow_list(plugin_root: Path) -> None:
    from mllmshift.errors import DataError
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.study.config import StudyConfig

    marker = plugin_root / "imported"
    _module(plugin_root, "localplug", ENCODER_SOURCE.format(cls="LocalEncoder", name="local")
            + f"\nopen({str(marker)!r}, 'w').write('x')\n")
    from mllmshift.evaluation.runnable import check_runnable
    from mllmshift.io.yaml_strict import YamlDocument
    from mllmshift.settings import located

    data = {"id": "a.jsonl", "scenarios": ["b.jsonl"], "encoders": {"text": "localplug:LocalEncoder"}}
    # the config holds the name (a results file naming it reads back anywhere); running it asks first, and
    # refuses a plugin that is not allowed before importing anything
    cfg = StudyConfig.from_dict(data, base_dir=plugin_root)
    assert not marker.exists() and "localplug" not in sys.modules
    with pytest.raises(DataError, match="field 'encoders.text': encoders plugin 'localplug:LocalEncoder' is not "
                                        r"allowed.*plugins: \[localplug\]"), located({}, YamlDocument(None, {}, "s")):
        check_runnable(cfg.eval)
    assert not marker.exists() and "localplug" not in sys.modules
    cfg = StudyConfig.from_dict({**data, "plugins": ["localplug"]}, base_dir=plugin_root)
    check_runnable(cfg.eval)
    assert cfg.eval.text_encoder.name == "localplug:LocalEncoder" and marker.exists()
    with pytest.raises(DataError, match="not a subclass of mllmshift.estimators.base.MIEstimator"):
        check_runnable(EvalConfig(estimator="localplug:LocalEncoder", plugins=["localplug"]))
