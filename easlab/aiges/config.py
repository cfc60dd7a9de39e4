"""An aiges wrapper's configuration: wrapperInit's config (the service's model_config,
an ``aiges.toml`` next to the wrapper as the aiges loader reads it, or the class's),
and the loader settings easlab honours from that file.

Apart from loader.py (which imports the wrapper, and with it the SDK shim): the
runner and the session code read these settings without importing a wrapper.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from easlab.aiges.params import float_text


class WrapperLoadError(Exception):
    """The wrapper file cannot be loaded or defines no Wrapper (its configuration included)."""


def loader_string(value: Any) -> str:
    """A config value as the aiges loader hands it over: a string (JSON spelling for
    numbers, booleans and nested values, so ``json.loads`` reads them back)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: the aiges loader's own configuration file, next to the wrapper
AIGES_TOML = "aiges.toml"


def init_config(model_config: Any, wrapper_cls: type, folder: Path | None = None) -> dict[str, str]:
    """The ``config`` wrapperInit gets: the service's model_config, else the ``[wrapper]``
    section of an ``aiges.toml`` in ``folder`` (as the aiges loader reads it), else the
    class's ``config``.

    The real loader receives ``map<string, string>`` (aiges_inner.proto
    ``InitRequest.config``), so every value arrives as a string here too:
    ``{"n": 3}`` gives ``{"n": "3"}`` and the wrapper converts what it needs
    (``int(config["n"])``), as it must on the platform.
    """
    if model_config is None or model_config == "":
        toml = folder / AIGES_TOML if folder is not None else None
        if toml is not None and toml.is_file():
            return toml_config(toml)
        value = dict(getattr(wrapper_cls, "config", None) or {})
    elif isinstance(model_config, str):
        try:
            value = json.loads(model_config)
        except json.JSONDecodeError as exc:
            # where, never what: a wrapper's config carries its access keys (the guide's
            # access_key_music), and this message goes to the service's status and log
            raise WrapperLoadError(
                "model_config must be a JSON object for an aiges service (wrapperInit gets "
                f"it as a dict); its {len(model_config)} characters are not JSON: {exc.msg} "
                f"at line {exc.lineno} column {exc.colno} (the text is not shown: it may hold "
                "keys)"
            ) from None
    else:
        value = model_config
    if not isinstance(value, dict):
        raise WrapperLoadError(
            f"model_config must be a JSON object for an aiges service, got {type(value).__name__}"
        )
    return {str(k): loader_string(v) for k, v in value.items()}


def option_config(text: str, source: str) -> dict[str, str]:
    """``easlab aiges run --config``'s wrapperInit config, made as the platform's: a JSON
    object (``source`` says where its text came from, a file or the option itself) whose
    values arrive as strings, as the loader's ``map<string, string>`` hands them and the
    kernel hands a service's model_config (``{"n": 3}`` gives ``{"n": "3"}``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # where, never what: a config carries the wrapper's keys
        raise WrapperLoadError(
            f"--config: {source} is not JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}; give a JSON object of wrapperInit's config, e.g. "
            '--config \'{"common.lic": "10"}\', or a file holding one'
        ) from None
    if not isinstance(value, dict):
        raise WrapperLoadError(
            f"--config: {source} is a JSON {type(value).__name__}, not an object: wrapperInit "
            'gets its config as the loader\'s map of names to strings, e.g. {"common.lic": "10"}'
        )
    return {str(k): loader_string(v) for k, v in value.items()}


def _toml(path: Path) -> Any:
    """The stdlib's TOML reader (3.11+), else tomli, its 3.10 backport (an easlab dependency
    on 3.10, which an install without dependencies can lack)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ModuleNotFoundError:
        raise WrapperLoadError(
            f"reading {path} needs the tomli package on Python 3.10 (Python 3.11 and later "
            "read TOML themselves); easlab depends on it there, so it was installed without "
            "its dependencies: pip install 'tomli>=1.1'"
        ) from None
    return tomli


def _read_toml(path: Path) -> dict[str, Any]:
    toml = _toml(path)
    try:
        with path.open("rb") as f:
            doc: dict[str, Any] = toml.load(f)
            return doc
    except toml.TOMLDecodeError as exc:  # its message names the line and column
        raise WrapperLoadError(f"{path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WrapperLoadError(f"{path} cannot be read: {exc}") from None


def toml_config(path: Path) -> dict[str, str]:
    """wrapperInit's config from an ``aiges.toml``, as the aiges loader builds it
    (aiges conf/configure.go): the ``[wrapper]`` section's keys, or, when ``[aiges]
    usrCfg`` names a user configuration file, every section of that file flattened to
    ``section.key``; values become strings (``10`` → ``"10"``, ``true`` → ``"true"``)
    and an array, table or date is refused, as the loader refuses it."""
    doc = _read_toml(path)
    aiges = doc.get("aiges")
    user = aiges.get("usrCfg") if isinstance(aiges, dict) else None
    if isinstance(user, str) and user:
        user_path = path.parent / user
        if not user_path.is_file():
            raise WrapperLoadError(
                f"{path}: [aiges] usrCfg = {user!r} names a user configuration file that "
                f"is not there ({user_path}): add it, or remove usrCfg to use [wrapper]"
            )
        config: dict[str, str] = {}
        for section, values in _read_toml(user_path).items():
            if not isinstance(values, dict):
                raise WrapperLoadError(
                    f"{user_path}: {section!r} is not a [section]: the aiges loader reads "
                    "only sections of key = value lines from a usrCfg file"
                )
            for key, value in values.items():
                config[f"{section}.{key}"] = _toml_string(value, user_path, f"[{section}] {key}")
        return config
    wrapper = doc.get("wrapper", {})
    if not isinstance(wrapper, dict):
        raise WrapperLoadError(f"{path}: 'wrapper' must be a [wrapper] section of key = value")
    return {str(k): _toml_string(v, path, f"[wrapper] {k}") for k, v in wrapper.items()}


def _toml_string(value: Any, path: Path, where: str) -> str:
    """A TOML value as the aiges loader's string (Go's strconv spellings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)  # Go's FormatFloat(v, 'f', -1, 64), as the loader
    kind = type(value).__name__
    raise WrapperLoadError(
        f"{path}: {where} is a {kind}; the aiges loader takes only strings, numbers and "
        "booleans in a wrapper configuration (it refuses the file): write it as a string"
    )


def delay_detect_period(folder: Path) -> float:
    """Seconds the loader waits for a session's result before it counts as stuck: aiges.toml's
    ``[aiges] wrapperDelayDetectPeriod`` (60 when absent or not above 0, as the loader)."""
    toml = folder / AIGES_TOML
    if not toml.is_file():
        return 60.0
    aiges = _read_toml(toml).get("aiges")
    value = aiges.get("wrapperDelayDetectPeriod") if isinstance(aiges, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return 60.0
    return float(value)


def session_mode_setting(folder: Path) -> bool | None:
    """aiges.toml's ``[aiges] sessMode`` (whether the loader runs the wrapper's session API
    rather than wrapperOnceExec), or None when there is no aiges.toml or it does not say."""
    return _loader_bool(folder, "sessMode", "the session API")


def _loader_bool(folder: Path, key: str, what: str) -> bool | None:
    """An ``[aiges]`` switch of aiges.toml: True, False, or None when not set.

    The loader reads these with xsf's GetBool, which takes only a TOML boolean and treats
    anything else as not set: ``"true"`` (a string) silently leaves the switch off there,
    so it is refused here, saying what to write."""
    toml = folder / AIGES_TOML
    if not toml.is_file():
        return None
    aiges = _read_toml(toml).get("aiges")
    value = aiges.get(key) if isinstance(aiges, dict) else None
    if value is None or isinstance(value, bool):
        return value
    raise WrapperLoadError(
        f"{toml}: [aiges] {key} is a {type(value).__name__} ({value!r:.20}); the aiges loader "
        f"reads only a boolean and ignores anything else (it would not run {what}): write "
        f"{key} = true or {key} = false"
    )


def async_mode_setting(folder: Path) -> bool:
    """aiges.toml's ``[aiges] asyncMode``: whether the loader runs a one-shot request through
    ``wrapperOnceExecAsync`` and takes its answer from ``callback`` (aiges conf/configure.go
    WrapperAsync; false unless the file says true)."""
    return _loader_bool(folder, "asyncMode", "wrapperOnceExecAsync") is True


#: the file of header names the loader also passes (one a line), next to aiges.toml
HEADER_PASS_FILE = "headerPass.wrapper"


def header_pass(folder: Path) -> tuple[str, ...]:
    """The request headers the loader copies into a wrapper's params (aiges
    conf/configure.go): aiges.toml's ``[aiges] headerPass`` (names separated by ``;``),
    then the lines of a ``headerPass.wrapper`` file, and ``sid`` always. Names are
    taken as written (the loader trims nothing: ``"appid; uid"`` passes ``" uid"``);
    empty ones are left out."""
    names: list[str] = []
    toml = folder / AIGES_TOML
    aiges = _read_toml(toml).get("aiges") if toml.is_file() else None
    value = aiges.get("headerPass") if isinstance(aiges, dict) else None
    if value is not None and not isinstance(value, str):
        # the loader reads it as a string and ignores anything else: the user would
        # wonder on the platform why no header arrives
        raise WrapperLoadError(
            f"{toml}: [aiges] headerPass is a {type(value).__name__}; the aiges loader reads "
            'one string of header names separated by ";" (and ignores anything else): '
            'write headerPass = "appid;uid"'
        )
    if value:
        names += value.split(";")
    listed = folder / HEADER_PASS_FILE
    if listed.is_file():
        try:
            names += listed.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise WrapperLoadError(f"{listed} cannot be read: {exc}") from None
    if "sid" not in names:
        names.append("sid")
    return tuple(dict.fromkeys(n for n in names if n))


#: aiges's plugin modes (its AIGES_PLUGIN_MODE, aiges env/env.go): ``c`` runs a Python
#: wrapper in the C++ loader (aiges_c_python_wrapper), the default; ``python`` in the
#: SDK's gRPC plugin (aiges serve.py). They call the hooks differently (hooks.py).
PLUGIN_MODES = ("c", "python")


def plugin_mode(environ: Any = None) -> str:
    """The loader easlab runs a wrapper as: ``AIGES_PLUGIN_MODE`` of the environment, as
    aiges reads it (unset or empty: ``c``); any other value is refused, as aiges refuses it."""
    import os

    value = (os.environ if environ is None else environ).get("AIGES_PLUGIN_MODE", "") or "c"
    if value not in PLUGIN_MODES:
        raise WrapperLoadError(
            f"AIGES_PLUGIN_MODE={value!r}: aiges runs a Python wrapper in its C++ loader "
            "(AIGES_PLUGIN_MODE=c, the default) or in the SDK's gRPC plugin "
            "(AIGES_PLUGIN_MODE=python); set one of those, or unset it"
        )
    return value
