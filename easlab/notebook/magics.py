"""``%eas`` / ``%%eas``: deploy, inspect, call and load-test services from a notebook.

``%load_ext easlab`` registers ``EasMagic``. Each subcommand is a thin shell
over a public function (``KernelClient`` methods, ``easlab.bench``,
``easlab.debug``); its arguments are parsed with IPython's ``magic_arguments``,
so ``%eas create --help`` documents itself. Settings: ``%config EasMagic.target``,
``EasMagic.timeout``, ``EasMagic.show_token``.

Failures the user can fix (a bad field, an unknown service, a wrong token, a
wrong shape, no kernel) print one red line, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float, Unicode

from easlab.errors import EaslabError, PredictException
from easlab.notebook.display import notebook_terms as _notebook_terms
from easlab.verbs import VERBS, Verb, add_arguments, call_kwargs, verb_named

__all__ = [
    "EasMagic",
    "EasMagicError",
    "load_ipython_extension",
    "unload_ipython_extension",
    "substitute",
]


# ----------------------------------------------------------------------------- cell templating

# One pass, left to right, so a substituted value is never read again as a placeholder.
_PLACEHOLDER = re.compile(
    r"\$\$"  # a literal $
    r"|\$\{(?P<braced>[A-Za-z_]\w*)\}"  # ${name}
    r"|\$(?P<bare>[A-Za-z_]\w*)"  # $name
    r"|(?<![{$])\{(?P<loose>[A-Za-z_]\w*)\}"  # {name}, only for a variable the notebook has
)
# A double-quoted string on one line: JSON's, or YAML's double-quoted scalar.
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def substitute(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``$var``, ``${var}`` and ``{var}`` with values from ``namespace``.

    A string (or a path) goes in as written. Any other value
    goes in as JSON (``json.dumps``), which YAML reads too as flow style: a dict
    ``$cfg`` becomes ``{"threshold": 0.5}``, ``True`` becomes ``true``. Inside a
    double-quoted string a value goes in as its text (``str``). ``$$`` is a
    literal ``$``. ``{name}`` is replaced only when ``name`` is a variable in the
    namespace, so JSON braces and unknown words stay as written; ``$name`` with
    an unknown name is an error (it can only be a typo).

    >>> substitute('{"model_config": $cfg, "price": "in $$USD"}', {"cfg": {"a": True}})
    '{"model_config": {"a": true}, "price": "in $USD"}'
    """
    quoted = [m.span() for m in _QUOTED.finditer(text)]

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare") or m.group("loose")
        if name not in namespace:
            if m.group("loose"):
                return m.group(0)
            raise ValueError(
                f"${name} in the cell: no variable {name!r} in the notebook; define it first "
                f"(or write $${name} for a literal ${name})"
            )
        in_string = any(start < m.start() < end for start, end in quoted)
        return _cell_text(name, namespace[name], in_string)

    return _PLACEHOLDER.sub(replace, text)


def _cell_text(name: str, value: Any, in_string: bool) -> str:
    """How the value of ``$name`` reads in a JSON or YAML cell."""
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike) or in_string:
        return str(value)
    try:
        return json.dumps(value, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"${name} in the cell: a {type(value).__name__} cannot be written into a JSON/YAML "
            f"cell ({exc}); give {name} a str, number, bool, None, list or dict"
        ) from None


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists; paths as text."""
    if isinstance(value, os.PathLike):
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ----------------------------------------------------------------------------- argument parsers
# Generated from the verb table (easlab/verbs.py), as the CLI's are: the same
# arguments, the same function. Magic-only: the destination variable (VAR, or
# -o VAR) and --target/--endpoint.


class _VerbParser(argparse.ArgumentParser):
    """argparse for one magic verb: a mistake raises (shown as one line), never exits."""

    def error(self, message: str) -> NoReturn:
        from IPython.core.error import UsageError

        raise UsageError(message)

    def parse_argstring(self, line: str) -> argparse.Namespace:
        from IPython.utils.process import arg_split

        return self.parse_args(arg_split(line, strict=True))


def _parser(verb: Verb) -> _VerbParser:
    prog = f"%%eas {verb.name}" if verb.cell == "required" else f"%eas {verb.name}"
    parser = _VerbParser(prog=prog, description=verb.help, add_help=False)
    add_arguments(parser, verb, "magic")
    if verb.produces:
        parser.add_argument(
            "var", nargs="?", metavar="VAR", help="variable that receives the result"
        )
        parser.add_argument(
            "-o", "--output", metavar="VAR", help="the same as VAR (as %%timeit -o does)"
        )
    parser.add_argument(
        "--target",
        "--endpoint",
        dest="target",
        help="'local' (default), a kernel URL such as http://127.0.0.1:8080, or 'pai' "
        "(PAI-EAS, as the CLI's: --target pai --region cn-hangzhou [--pai-endpoint "
        "HOST[:PORT]] [--oss oss://BUCKET/PREFIX] [--pai-timeout SECONDS]; without "
        "--region, the region of "
        "%%eas target pai)",
    )
    # the CLI's PAI-EAS options, for one call (%eas target pai sets them for every call);
    # described under --target, so that every verb's usage line stays short
    for flag in ("--region", "--pai-endpoint", "--oss"):
        parser.add_argument(flag, help=argparse.SUPPRESS)
    parser.add_argument("--pai-timeout", type=float, help=argparse.SUPPRESS)
    parser.add_argument("-h", "--help", action="store_true", help="show this help")
    return parser


def _target_parser() -> _VerbParser:
    """``%eas target``: a magic-only setting (no verb of the CLI), with its own help."""
    parser = _VerbParser(
        prog="%eas target",
        description="choose where every later %eas call goes (shows the current target "
        "without WHERE)",
        add_help=False,
    )
    parser.add_argument(
        "where",
        nargs="?",
        default=None,
        metavar="WHERE",
        help="'local' (the local kernel, the default), a kernel URL such as "
        "http://127.0.0.1:8080, or 'pai' (PAI-EAS)",
    )
    parser.add_argument("--region", help="PAI-EAS's region, e.g. cn-hangzhou")
    parser.add_argument(
        "--pai-endpoint", default="", metavar="HOST[:PORT]", help="PAI-EAS's endpoint"
    )
    parser.add_argument(
        "--oss", default="", metavar="oss://BUCKET/PREFIX", help="where local files are uploaded"
    )
    parser.add_argument(
        "--pai-timeout", type=float, default=0.0, metavar="SECONDS", help="PAI-EAS call timeout"
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help")
    return parser


_TARGET_PARSER = _target_parser()

_PARSERS: dict[str, _VerbParser] = {}
for _verb in VERBS:
    if "magic" in _verb.fronts:
        _PARSERS[_verb.name] = _parser(_verb)
        for _alias in _verb.aliases:
            _PARSERS[_alias] = _PARSERS[_verb.name]


def _help_text(parser: _VerbParser) -> str:
    """A subcommand's help, starting ``usage: %eas ...``."""
    return str(parser.format_help())


def _usage() -> str:
    lines = ["Subcommands (%eas SUBCOMMAND --help, or %eas help SUBCOMMAND, shows one):", ""]
    for verb in VERBS:
        if "magic" not in verb.fronts:
            continue
        usage = " ".join(_PARSERS[verb.name].format_usage()[len("usage: ") :].split())
        lines.append(f"  {usage}\n      {verb.help}")
    lines.append(f"  {_one_line_usage(_TARGET_PARSER)}\n      {_TARGET_PARSER.description}")
    return "\n".join(lines)


def _one_line_usage(parser: _VerbParser) -> str:
    return " ".join(parser.format_usage()[len("usage: ") :].split())


def _wants_help(rest: str) -> bool:
    """``-h``/``--help`` anywhere among the arguments: checked before parsing, since
    argparse reports a missing positional before it looks at ``-h``."""
    from IPython.utils.process import arg_split

    try:
        tokens = arg_split(rest, strict=False)
    except ValueError:  # unbalanced quotes: let the parser report them
        return False
    return any(t in ("-h", "--help") for t in tokens)


class EasMagicError(Exception):
    """A ``%eas`` failure the user can fix: shown as one red line, no traceback.

    It is raised (not printed), so the cell fails: Run All, nbclient and
    papermill stop at it instead of running on into ``NameError``s. ``stored``: the
    cell's variable holds what the failed call measured (a bench whose every request
    failed), so it is kept.
    """

    def __init__(self, message: str, stored: bool = False) -> None:
        # one line: the first thing it says is what went wrong
        self.message = " ".join(str(message).split())
        self.stored = stored
        super().__init__(self.message)

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback
        return [f"\x1b[31measlab error: {self.message}\x1b[0m"]


# ----------------------------------------------------------------------------- the magics


def _raise_if_refused(verb: str, plan: Any) -> None:
    """A dry run whose plan says the change would be refused fails the cell, as the CLI's
    exits 1, so that Run All stops there; the plan is shown first. The diff of a service
    that exists (``%%eas create --dry-run`` of a deployed one) is how a notebook compares
    a description with it: shown, not an error."""
    from easlab.cli import plan_refused

    if not plan_refused(plan) or getattr(plan, "exists", False):
        return
    _show(plan)
    why = getattr(plan, "refused", "") or "; ".join(
        str(line).removeprefix("error:").strip()
        for line in getattr(plan, "portability", [])
        if str(line).startswith("error:")
    )
    raise EasMagicError(
        f"%eas {verb} --dry-run: {plan.name}: {why} (nothing was changed; the plan is shown above)"
    )


def _show(obj: Any) -> None:
    from IPython.display import display

    display(obj)


class _Html:
    """Raw HTML with a plain-text fallback for terminal IPython."""

    def __init__(self, html: str, text: str) -> None:
        self.html = html
        self.text = text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


@magics_class
class EasMagic(Magics):
    """The ``%eas`` line magic and ``%%eas`` cell magic."""

    target = Unicode(
        "",
        help="Kernel endpoint the magics talk to; empty means the local kernel "
        "(started in the background when none runs).",
    ).tag(config=True)
    timeout = Float(30.0, help="Seconds to wait for a prediction answer.").tag(config=True)
    show_token = Bool(False, help="Show service tokens in clear instead of masked.").tag(
        config=True
    )
    # PAI-EAS as the target (``%eas target pai --region R`` sets these; easlab/cloud)
    pai_endpoint = Unicode(
        "", help="PAI-EAS API host[:port] override (default: the region's public endpoint)."
    ).tag(config=True)
    oss = Unicode("", help="oss://bucket/prefix where local model paths are uploaded.").tag(
        config=True
    )
    pai_timeout = Float(
        0.0,
        help="Seconds each PAI-EAS API call waits for its answer; 0: $EASLAB_PAI_TIMEOUT, else 60.",
    ).tag(config=True)

    # -- entry point ----------------------------------------------------------------------
    @line_cell_magic
    def eas(self, line: str, cell: str | None = None) -> Any:
        """Work with easlab services: %eas SUBCOMMAND ... or %%eas SUBCOMMAND ... (see below).

        A verb that gives a value stores it in VAR (``%eas ls df``, or ``-o df``)
        and returns it, so ``df = %eas ls`` works too. A failure raises
        ``EasMagicError``: one red line, and the cell stops. Settings:
        ``%config EasMagic.timeout = 120`` (seconds a predict waits; 30 by default),
        ``%config EasMagic.show_token = True`` (tokens in clear), ``%eas target``.
        """
        from IPython.core.error import UsageError

        sub, _, rest = line.strip().partition(" ")
        if sub in ("", "-h", "--help", "help"):
            topic = rest.strip()
            topics = {**_PARSERS, "target": _TARGET_PARSER}
            if topic in topics:
                print(_help_text(topics[topic]))
            elif topic:
                import difflib

                close = difflib.get_close_matches(topic, topics, n=1)
                guess = f"did you mean %eas help {close[0]}? " if close else ""
                raise EasMagicError(
                    f"no subcommand {topic!r}; {guess}one of: {', '.join(sorted(topics))}"
                )
            else:
                print(_OVERVIEW)
            return None
        if sub == "target":
            return self._set_target(rest)
        parser = _PARSERS.get(sub)
        verb = verb_named(sub)
        if (parser is None or verb is None) and sub.startswith("-"):
            # options before the subcommand (%%eas --dry-run create), as a CLI allows for
            # its global ones: name the line as the magic reads it
            words = line.split()
            found = next((w for w in words if w in _PARSERS), None)
            if found is not None:
                words.remove(found)
                magic = "%%eas" if cell is not None else "%eas"
                raise EasMagicError(
                    f"{sub!r} comes before the subcommand; the subcommand goes first: "
                    f"{magic} {found} {' '.join(words)}"
                )
        if parser is None or verb is None:
            import difflib

            # a typo (%eas delte x) names the subcommand it was meant to be
            close = difflib.get_close_matches(sub, _PARSERS, n=1)
            guess = f"did you mean %eas {close[0]}? " if close else ""
            raise EasMagicError(
                f"unknown subcommand {sub!r}; {guess}one of: {', '.join(sorted(_PARSERS))} "
                "(%eas help)"
            )
        if _wants_help(rest):
            print(_help_text(parser))
            return None
        # before parsing: bench's missing --body would otherwise hide the cell it is in
        if verb.cell is None and cell is not None and cell.strip():
            raise EasMagicError(_no_body_text(sub, parser))
        try:
            args = parser.parse_argstring(rest)
        except UsageError as exc:
            raise EasMagicError(f"%eas {sub}: {exc} (usage: {_one_line_usage(parser)})") from None
        if verb.produces:
            if args.var and args.output and args.var != args.output:
                raise EasMagicError(
                    f"%eas {sub}: give the variable once, as VAR or -o VAR, not both"
                )
            args.var = args.output = args.var or args.output
        if verb.cell == "required" and cell is None:
            raise EasMagicError(
                f"{sub} takes a cell body: write it as %%eas {sub} ... on the first line"
            )
        try:
            if verb.name in ("predict", "bench", "debug"):
                handler = getattr(self, f"_do_{verb.name}")
                value = handler(args, cell) if verb.cell else handler(args)
            else:
                value = self._run_verb(verb, args, cell)
        except (EaslabError, ValueError, EasMagicError) as exc:
            if verb.produces and args.var and not getattr(exc, "stored", False):
                self._ns.pop(args.var, None)  # a failed call leaves no stale value behind
            if isinstance(exc, EasMagicError):
                raise exc from None
            raise EasMagicError(_notebook_terms(str(exc))) from None
        # a created service's titled summary, a deletion's line, are already shown
        # (_render): once is enough
        shown = (verb.name == "create" and hasattr(value, "desc")) or verb.name == "delete"
        if verb.produces and args.var and verb.name not in ("predict", "bench"):
            self._store(args.var, value)
            if not shown:
                _show(value)
            return None
        return None if shown else value

    # -- helpers --------------------------------------------------------------------------
    @property
    def _ns(self) -> dict[str, Any]:
        return self.shell.user_ns  # type: ignore[no-any-return,union-attr]

    def _store(self, var: str | None, value: Any) -> None:
        if var:
            if not var.isidentifier():
                raise ValueError(f"{var!r} is not a valid variable name")
            self._ns[var] = value

    def _forget(self, var: str | None) -> None:
        """Remove ``var`` from the notebook (after a failed call that was to set it)."""
        if var and var.isidentifier():
            self._ns.pop(var, None)

    def _kernel(self, args: Any = None, start: bool = False) -> Any:
        """The client a verb talks to: its own ``--target`` (with ``--region``,
        ``--pai-endpoint``, ``--oss`` for ``pai``) if given, else ``EasMagic.target``."""
        from easlab.client.connect import connect

        target = getattr(args, "target", None)
        pai_options = {
            key: getattr(args, key, None) or None
            for key in ("region", "pai_endpoint", "oss", "pai_timeout")
        }
        endpoint = target if target is not None else self.target
        if endpoint == "pai" or endpoint.startswith("pai://"):
            return self._pai(endpoint, **pai_options)
        given = [f"--{k.replace('_', '-')}" for k, v in pai_options.items() if v]
        if given:
            raise EasMagicError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for PAI-EAS, and this "
                f"call goes to {endpoint or 'local'}: add --target pai, or set PAI-EAS for "
                "every call with %eas target pai --region cn-hangzhou"
            )
        if endpoint in ("", "local"):
            # "local" said outright keeps to the local kernel where $EASLAB_ENDPOINT
            # names PAI-EAS (pai://REGION); left unset, the environment decides
            return connect(None, start=start, target=endpoint or None)
        from easlab.client.control import KernelClient

        # a wrong endpoint is told in the magic's terms, not connect()'s
        return KernelClient(endpoint, given_as="--target" if target is not None else "%eas target")

    def _pai(
        self,
        endpoint: str,
        region: str | None = None,
        pai_endpoint: str | None = None,
        oss: str | None = None,
        pai_timeout: float | None = None,
    ) -> Any:
        """A PAI-EAS client, as the CLI's ``--target pai``; the settings of ``%eas target
        pai`` fill in what the call does not give, for the same region."""
        from easlab.client.connect import connect
        from easlab.notebook.upload_progress import UploadProgress

        configured = (
            self.target[len("pai://") :].strip("/") if self.target.startswith("pai://") else ""
        )
        if endpoint.startswith("pai://"):
            region = region or endpoint[len("pai://") :].strip("/") or None
        region = region or configured or None
        if region is not None and region == configured:
            pai_endpoint = pai_endpoint or self.pai_endpoint or None
            oss = oss or self.oss or None
            pai_timeout = pai_timeout or self.pai_timeout or None
        if region is None:
            from easlab.cloud.client import default_region

            found = default_region()  # $EASLAB_PAI_REGION ..., the aliyun CLI's profile
            if not found.region:
                why = f"; {found.problem}" if found.problem else ""
                raise EasMagicError(
                    "--target pai needs a region: add --region cn-hangzhou to the call, or set "
                    "PAI-EAS once for every call with %eas target pai --region cn-hangzhou "
                    "[--oss oss://BUCKET/PREFIX] (or $EASLAB_PAI_REGION, or region_id in the "
                    f"aliyun CLI's profile){why}"
                )
        client = connect(
            target="pai", region=region, pai_endpoint=pai_endpoint, oss=oss, pai_timeout=pai_timeout
        )
        if hasattr(client, "upload_progress"):
            # local model files go to OSS first: show each one's bar in the cell
            client.upload_progress = UploadProgress()
        return client

    def _set_target(self, rest: str) -> str | None:
        """``%eas target local | pai --region R [--pai-endpoint H] [--oss URI]
        [--pai-timeout S] | URL``."""
        from IPython.utils.process import arg_split

        if _wants_help(rest):
            print(_help_text(_TARGET_PARSER))
            return None
        try:
            args = _TARGET_PARSER.parse_args(arg_split(rest, strict=True))
        except Exception as exc:
            raise EasMagicError(
                f"%eas target: {exc} (usage: {_one_line_usage(_TARGET_PARSER)})"
            ) from None
        where = args.where
        if where == "pai" or (where or "").startswith("pai://"):
            region = args.region or (where or "")[len("pai://") :].strip("/")
            source = ""
            if not region:
                from easlab.cloud.client import default_region

                found = default_region()  # $EASLAB_PAI_REGION ..., the aliyun CLI's profile
                if not found.region:
                    why = f" ({found.problem})" if found.problem else ""
                    raise EasMagicError(
                        "%eas target pai needs a region: --region cn-hangzhou, or "
                        "$EASLAB_PAI_REGION, or region_id in the aliyun CLI's profile" + why
                    )
                region, source = found.region, f" (region from {found.source})"
            self.target = f"pai://{region}"
            self.pai_endpoint, self.oss = args.pai_endpoint, args.oss
            self.pai_timeout = _pai_timeout(args.pai_timeout)
            shown = f"%eas talks to {self.target}{source}"
            return shown + (f" (uploads to {self.oss})" if self.oss else "")
        elif args.region or args.pai_endpoint or args.oss or args.pai_timeout:
            if where is not None or not self.target.startswith("pai://"):
                raise EasMagicError(
                    "%eas target: --region, --pai-endpoint, --oss and --pai-timeout are for "
                    "PAI-EAS: "
                    "%eas target pai --region cn-hangzhou [--oss oss://BUCKET/PREFIX]"
                )
            # %eas target --oss URI: change one setting of the PAI-EAS target
            if args.region:
                self.target = f"pai://{args.region}"
            self.pai_endpoint = args.pai_endpoint or self.pai_endpoint
            self.oss = args.oss or self.oss
            self.pai_timeout = _pai_timeout(args.pai_timeout) or self.pai_timeout
        elif where is not None:
            self.target = where
            # the PAI-EAS settings belong to that target: a kernel reads local paths itself
            self.pai_endpoint = self.oss = ""
            self.pai_timeout = 0.0
        shown = self.target or "local"
        return f"%eas talks to {shown}" + (f" (uploads to {self.oss})" if self.oss else "")

    def _resolve(self, service: str, args: Any = None) -> Any:
        """A ``Target`` for a service name (on the verb's target) or a notebook variable
        holding a Service/URL."""
        from easlab.errors import KernelError
        from easlab.notebook import _target

        value = self._ns.get(service, service) if service.isidentifier() else service
        if isinstance(value, str) and "://" not in value:
            try:
                desc = self._kernel(args).describe(value)
            except KernelError as exc:
                if exc.status != 404 or service in self._ns or not service.isidentifier():
                    raise
                # after a restart of the notebook's kernel the variable of %%eas create
                # svc is gone while its service runs on: the name alone then looks wrong
                raise EasMagicError(
                    f"{exc}; nor is {service} a variable of this notebook (after a restart "
                    f"of the notebook's kernel, run the cell that set it again, or give the "
                    f"service's name)"
                ) from None
            return _target.from_desc(desc, timeout=self.timeout)
        return _target.resolve(value, timeout=self.timeout)

    def _table(self, df: Any, output: str | None) -> Any:
        self._store(output, df)
        _show(df)

    # -- the control verbs (easlab/ops.py) ---------------------------------------------------
    def _run_verb(self, verb: Verb, args: Any, cell: str | None) -> Any:
        """Call the verb's function with the same keywords as the CLI; the value to show."""
        kwargs = call_kwargs(verb, args, "magic")
        body = cell if cell is not None and cell.strip() else None
        if verb.name == "create":
            kwargs["spec"] = substitute(cell or "", self._ns)
        elif verb.name == "modify" and body is not None:
            if args.spec or args.overrides:
                raise ValueError(
                    f"modify takes one of -DKEY=VALUE, -s <json file or text>, or a cell body "
                    f"(%%eas modify {args.name}); got more than one"
                )
            kwargs["spec"] = substitute(body, self._ns)  # a partial service.json
        dry_run = bool(kwargs.get("dry_run"))
        if verb.name == "create" and dry_run:
            # validating needs no kernel; the diff uses one if it runs
            kernel = self._kernel_if_running(args)
        elif verb.name == "kernel":
            # every kernel of this EASLAB_HOME unless one is named
            target = args.target if args.target is not None else self.target
            kernel = self._kernel(args) if target not in ("", "local") else None
        else:
            if verb.name == "create":
                # the cell's own faults first, before a kernel starts for it (as the CLI)
                from easlab.spec import parse_spec

                parse_spec(
                    kwargs["spec"], allow_unknown_keys=bool(kwargs.get("allow_unknown_keys"))
                )
            kernel = self._kernel(args, start=verb.name == "create")
        if verb.name not in ("gpu", "kernel") or kernel is not None:
            kwargs["kernel"] = kernel
        function = verb.resolve()
        if verb.waits and not dry_run:
            name = getattr(args, "name", None) or _spec_name(kwargs.get("spec"))
            progress = _Progress(kernel, name)
            kwargs["progress"] = progress.poll
            try:
                result = function(**kwargs)
            except BaseException:
                progress.finish(failed=True)
                raise
            failed = _failed_desc(result)
            progress.finish(failed=failed is not None)
            if failed is not None:
                # the description says what state it is in; the cell then fails, as the
                # CLI exits 1 ([FAILED]), so Run All stops here and not at the next call
                shown = self._render(verb, args, result)
                if verb.name != "create":  # create's summary is shown by _render
                    _show(shown)
                name = failed.get("name") or name
                unchanged = failed.get("status") != "Failed"  # the change did not take
                why = _failure_line(failed.get("failed") if unchanged else failed.get("message"))
                # in a notebook the log is one magic away: name that, once
                why = why.replace(f"easlab logs {name}", f"%eas logs {name}")
                if f"%eas logs {name}" not in why:
                    why += f" (%eas logs {name} shows its log)"
                if unchanged:
                    raise EasMagicError(
                        f"service {name} was not changed (it still serves version "
                        f"{failed.get('current_version')}): {why}"
                    )
                raise EasMagicError(f"service {name} failed to start: {why}")
        else:
            result = function(**kwargs)
            if dry_run:
                _raise_if_refused(verb.name, result)
        return self._render(verb, args, result)

    def _kernel_if_running(self, args: Any) -> Any:
        from easlab.errors import KernelNotRunning

        try:
            return self._kernel(args)
        except KernelNotRunning:
            return None

    def _render(self, verb: Verb, args: Any, result: Any) -> Any:
        """What a verb's value looks like in a notebook (the same data as the CLI's)."""
        from easlab.cli import SERVICE_COLUMNS, WORKER_COLUMNS, gpu_text, service_rows, worker_rows
        from easlab.notebook.display import ServiceDescription

        if verb.name in ("ls", "w"):
            import pandas as pd

            columns, rows = (
                (SERVICE_COLUMNS, service_rows(result))
                if verb.name == "ls"
                else (WORKER_COLUMNS, worker_rows(result))
            )
            return pd.DataFrame(rows, columns=columns)
        if verb.name == "gpu":
            if not result.get("gpus"):
                return _Text(gpu_text(result), result)
            import pandas as pd

            return pd.DataFrame(result["gpus"])
        if verb.name == "logs":
            return LogLines(result, args.name)
        if verb.name == "queue":
            from easlab.notebook.queue_view import LiveQueue

            return LiveQueue(result)
        if verb.name == "kernel":
            from easlab.cli import KERNEL_COLUMNS, format_kernels, kernel_rows

            if args.action == "status":
                import pandas as pd

                return pd.DataFrame(kernel_rows(result), columns=KERNEL_COLUMNS)
            return _Text(format_kernels(result, args.action), result)
        if verb.name == "delete":
            # printed, so the line shows even when the magic is not the cell's last line
            print(f"deleted service {result.get('deleted', args.name)}")
            return result
        if verb.name == "create" and hasattr(result, "desc"):
            title = f"service {result.name} created"
            if getattr(result, "existed", False):
                title = f"service {result.name} exists, deployed from this same cell: using it"
                if getattr(result, "reloaded", None):
                    title = (
                        f"service {result.name} exists, deployed from this same cell; its "
                        "model files changed since it loaded them: version "
                        f"{result.reloaded} serves them"
                    )
            if result.status == "Failed":
                title = f"service {result.name} failed to start"
            _show(ServiceDescription(result.desc, self.show_token, title))
            return result
        if isinstance(result, dict):
            titles = {
                "stop": f"service {args.name} stopped",
                "start": f"service {args.name} started",
                "version": f"service {args.name} now at version {result.get('current_version')}",
                "release": f"{args.name} receives {getattr(args, 'weight', '?')}% of the traffic",
                "modify": f"service {args.name} modified: now at version "
                f"{result.get('current_version')} (latest {result.get('latest_version')})",
            }
            title = titles.get(verb.name, "")
            if verb.name in ("modify", "version") and result.get("status") == "Stopped":
                # a stopped service stays stopped (it started without a word)
                title = (
                    f"service {args.name} is stopped: version {result.get('current_version')} "
                    f"(latest {result.get('latest_version')}) is its current version; "
                    f"%eas start {args.name} serves it"
                )
            if result.get("status") == "Failed":  # the message is a field of the summary
                title = f"service {args.name} failed to start"
            return ServiceDescription(result, self.show_token, title)
        return result  # SpecDiff (dry run): shows itself

    # -- predict --------------------------------------------------------------------------
    def _do_predict(self, args: Any, cell: str) -> None:
        from easlab.client.local import kernel_is_down
        from easlab.notebook._record import call

        try:
            target = self._resolve(args.service, args)
            try:
                fetch = (
                    [f.strip() for f in args.fetch.split(",") if f.strip()] if args.fetch else None
                )
                text = cell.strip("\n")
                with _token_hint(args.service, target, self._ns):
                    value = (
                        text.encode("utf-8") if args.raw else self._body_value(text, target=target)
                    )
                    record = call(target, value, args.signature, fetch)
            finally:
                target.close()
            if record.timed_out:
                raise EasMagicError(_timeout_text(target.service_name, self.timeout))
            if record.response is None and kernel_is_down(target.url):
                raise EasMagicError(_kernel_down_text(target))
            if record.status != 200:
                from easlab.notebook.display import crash_log_note

                message = crash_log_note(record.message(), target.service_name)
                if record.status in (401, 403):
                    message += _token_note(args.service, target, self._ns)
                if isinstance(value, str) and not args.raw and record.response is not None:
                    message += _sent_as_text_note(text, target)
                raise PredictException(record.status, message)
            if record.decode_error is not None:
                raise EasMagicError(record.decode_error)
        except BaseException:
            # the variable must not keep an earlier answer that looks like this one's
            self._forget(args.var)
            raise
        self._store(args.var, record.value)
        _show(record)

    def _body_value(self, text: str, strict: bool = False, target: Any = None) -> Any:
        """What a ``%%eas predict`` cell (or ``bench --body``) sends.

        JSON text is sent as written to a service without a tensor signature, and
        read as a value (a dict of lists ...) for a tensor service, whose signature
        converts it. Otherwise the text is a Python expression evaluated in the
        notebook: a name it uses that is not defined raises ``NameError`` (quote text
        to send text). Text that is not Python is sent as text; ``strict``
        (``bench --body``) wants a value.
        """
        stripped = text.strip()
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            return parsed if target is not None and target.is_tensor else stripped
        try:
            code = compile(stripped, "<%%eas predict>", "eval")
        except SyntaxError:
            if strict:
                raise ValueError(f"--body {text!r} is not a Python expression") from None
            # not Python, so it can only be text; sent without asking the service for its
            # signature (a GET that reaches a python processor's process())
            return text
        try:
            return eval(code, self._ns)  # noqa: S307 - the user's own notebook expression
        except NameError as exc:
            name = _missing_name(exc)
            if strict:
                raise ValueError(f"--body: {exc} in the notebook") from None
            raise UndefinedName(
                f"name {name!r} is not defined: the %%eas predict cell is a Python expression "
                f"evaluated in the notebook; define {name} first, or quote text to send it "
                f"as text ('{name}'), or use --raw",
                name=name,
            ) from None

    # -- bench / debug --------------------------------------------------------------------
    def _do_bench(self, args: Any) -> Any:
        from easlab.notebook.loadtest import _bench, check_load, stop_note

        # refused before the service is looked up (bench checks again, the same way)
        check_load(args.n, args.concurrency, args.duration, args.sweep)
        target = self._resolve(args.service, args)
        try:
            with _token_hint(args.service, target, self._ns):
                body = self._body_value(args.body, strict=True, target=target)
                if isinstance(body, str) and target.is_tensor:
                    raise ValueError(_str_body_text(args.body, body, target))
                result = _bench(
                    target,
                    body,
                    n=args.n,
                    concurrency=args.concurrency,
                    duration=args.duration,
                    sweep=args.sweep,
                    token=None,
                    timeout=self.timeout,
                    progress=True,
                )
        finally:
            target.close()
        if args.output:
            self._store(args.output, result)
        if result.n and not result.succeeded and not result.interrupted:
            # the cell fails, as %%eas predict's does: Run All stops here, not at a plot
            # of no latencies further down
            from easlab.client.local import kernel_is_down

            if set(result.errors) == {0} and kernel_is_down(target.url):
                raise EasMagicError(_kernel_down_text(target), True)
            token = _token_note(args.service, target, self._ns) if 401 in result.errors else ""
            raise EasMagicError(
                _all_failed_text(target.service_name, result, args.output) + token, True
            )
        interrupted = stop_note(result)  # Ctrl-C: what was measured is kept
        if interrupted:
            print(interrupted, file=sys.stderr)
        if args.output:
            return result  # displayed by IPython, like %timeit -o
        _show(result)
        return None

    def _do_debug(self, args: Any) -> None:
        from easlab.notebook.debug import debug

        _show(debug(self._resolve(args.service, args), namespace=self._ns))


def _sent_as_text_note(text: str, target: Any) -> str:
    """Why a refused cell went as text: it is not one Python expression (statements, or
    an expression with a typo such as an unclosed bracket), or its value is a str and
    the service takes tensors. The service's own refusal (a protobuf parse error) says
    neither; empty when the service takes text (its refusal is about the text)."""
    try:
        compile(text.strip(), "<%%eas predict>", "eval")
    except SyntaxError as exc:
        lines = text.strip().splitlines()
        lineno = exc.lineno or 1
        where = f"line {lineno}: {lines[lineno - 1].strip()!r}" if lineno <= len(lines) else ""
        try:
            compile(text.strip(), "<%%eas predict>", "exec")
        except SyntaxError:
            why = f"it is not Python ({exc.msg}, {where})"
        else:
            why = f"it holds statements, not one expression ({where})"
        return (
            f" [the cell was sent as text, not evaluated: {why}. The %%eas predict body is "
            "one Python expression whose value is sent, e.g. {'x': x}: fix it, and run any "
            "imports or assignments in a cell above; --raw sends text on purpose]"
        )
    if not target.is_tensor:
        return ""
    from easlab.wire.build import tensors_text

    signature = target.signature()
    first = str((signature.get("inputs") or [{}])[0].get("name", "x"))
    return (
        f" [the cell's value is a str, sent as text; service {target.service_name!r} takes "
        f"tensors {tensors_text(signature)}: give a dict of input name -> array, e.g. "
        f"{{{first!r}: {first}}}]"
    )


def _token_note(service: str, target: Any, namespace: dict[str, Any]) -> str:
    """What to do about a refused token (401, 403) when the cell named a URL: the kernel's
    own fix (``client.set_token``) is a client's, not a cell's. Empty when the cell named
    the service, whose own token was sent."""
    if not target.token:
        # {token} is IPython's expansion of a variable: the token stays out of
        # the cell's source and the notebook
        return (
            " (this URL sends no token: give it as %%eas predict {url}?token={token},"
            " the token in a variable, or predict the service by its name)"
        )
    given = namespace.get(service, service) if service.isidentifier() else service
    if not (isinstance(given, str) and "://" in given):
        return ""
    return (
        f" (the token given with this URL is not service {target.service_name!r}'s: predict "
        f"the service by its name, %%eas predict {target.service_name}, which sends its own "
        "token, or give the right one as ?token={token} from a variable)"
    )


@contextlib.contextmanager
def _token_hint(service: str, target: Any, namespace: dict[str, Any]) -> Iterator[None]:
    """A token refused while the signature is read (a tensor body is built from it)
    says how to fix it in the cell, as a refused call does (``_token_note``)."""
    try:
        yield
    except PredictException as exc:
        note = _token_note(service, target, namespace) if exc.code in (401, 403) else ""
        if not note or note in exc.message:
            raise
        raise PredictException(exc.code, exc.message + note) from None


def _kernel_down_text(target: Any) -> str:
    """Why no request reached a service of the local kernel: that kernel is gone."""
    return (
        f"the easlab kernel that served {target.service_name!r} is not running "
        f"({target.endpoint} refuses connections): start one with "
        f"%eas kernel start, then create the service again"
    )


def _all_failed_text(service: str, result: Any, var: str | None) -> str:
    """Why ``%eas bench`` failed its cell: no request succeeded. The first error says what
    was wrong and, as the kernel words it, how to fix it (the token, ``%eas start``,
    ``%eas logs``)."""
    from easlab.notebook.display import crash_log_note

    stopped = "; it stopped there, as none succeeded" if result.stopped else ""
    kept = f"; {var} holds the per-request result" if var else ""
    first = crash_log_note(str(result.first_error), service)
    return (
        f"%eas bench {service}: all {result.n} requests failed ({result.errors_text}{stopped}); "
        f"the first error: {first}. Fix what it says and run the bench again{kept}"
    )


def _no_body_text(sub: str, parser: _VerbParser) -> str:
    """Why ``%%eas SUB`` with lines below it is refused: SUB reads no cell body, and
    running it while the lines are dropped would look as if they had been used."""
    where = (
        "give the request with --body VAR (a variable holding it, e.g. "
        "%eas bench SERVICE --body payload)"
        if sub == "bench"
        else "move those lines to a cell of their own"
    )
    return (
        f"{sub} takes no cell body, and this cell has lines below %%eas {sub}: {where}, "
        f"and write the magic on one line with one %: {_one_line_usage(parser)}"
    )


def _str_body_text(text: str, body: str, target: Any) -> str:
    """Why ``%eas bench --body '...'`` is refused for a tensor service: the quotes made a str."""
    from IPython.utils.process import arg_split

    from easlab.wire.build import tensors_text

    signature = target.signature()
    assert signature is not None
    text = text.strip()
    quoted = text[:1] in ("'", '"') and text[-1:] == text[:1]
    fix = "pass a variable holding a dict of input name -> array"
    if quoted:
        try:
            compact = json.dumps(json.loads(body), separators=(",", ":"))
        except ValueError:
            compact = ""
        # the suggestion must stay one argument of the magic's line
        if compact and arg_split(compact, strict=False) == [compact]:
            fix = f"drop the quotes (--body {compact}), or {fix}"
        else:
            fix = f"drop the quotes, or {fix}"
    return (
        f"--body is a str{f' ({text} is in quotes)' if quoted else ''}, and service "
        f"{target.service_name!r} takes tensors {tensors_text(signature)}: {fix}"
    )


def _timeout_text(service: str, timeout: float) -> str:
    """Why ``%%eas predict`` stopped waiting: the notebook's own timeout, not the service's."""
    more = max(120, round(timeout * 4))
    return (
        f"no answer from {service!r} within {timeout:g} s (the notebook's timeout, "
        f"EasMagic.timeout); the kernel may still be working on the call. To wait longer: "
        f"%config EasMagic.timeout = {more}"
    )


def _missing_name(exc: NameError) -> str:
    return str(getattr(exc, "name", None) or exc)


class UndefinedName(NameError):
    """A ``%%eas predict`` cell names a variable the notebook does not have: the cell
    stops, as a Python cell would, with one red line instead of a traceback into easlab."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mNameError: {self}\x1b[0m"]


def _spec_name(spec: Any) -> str:
    from easlab.spec import load_spec_source, service_name

    try:
        data, _ = load_spec_source(spec)
        return service_name(data)  # name, or metadata.name (PAI-EAS's JSON deployment)
    except (EaslabError, ValueError):
        return "service"


def _failed_desc(result: Any) -> dict[str, Any] | None:
    """The description of a service a waiting verb left Failed, or whose change did not
    take (``failed``: a new version that did not start); None otherwise."""
    desc = getattr(result, "desc", result)
    if isinstance(desc, dict) and (desc.get("status") == "Failed" or desc.get("failed")):
        return desc
    return None


def _failure_line(message: Any) -> str:
    """A start failure's message as one line: a traceback shrinks to its last line.

    ``initialize() failed with RuntimeError:`` + traceback + ``RuntimeError: no model``
    reads ``initialize() failed with RuntimeError: no model``; the description
    shown above the line keeps the whole message.
    """
    text = str(message or "").strip()
    if not text:
        return "no message; see its log"
    head, marker, trace = text.partition("Traceback (most recent call last):")
    if not marker:
        return text
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    head = head.strip()
    kind, sep, what = last.partition(": ")
    if sep and head.endswith(f"{kind}:"):
        last = what  # the exception's name is already in the head
    return f"{head} {last}".strip()


class _Text:
    """Plain text shown as is (``%eas gpu`` with no GPU: the reason), carrying its data."""

    def __init__(self, text: str, data: Any) -> None:
        self.text = text
        self.data = data

    def __repr__(self) -> str:
        return self.text


class LogLines(list[str]):
    """A service's log lines: a list, shown as the log reads."""

    def __init__(self, lines: list[str], name: str) -> None:
        super().__init__(lines)
        self.name = name

    def __repr__(self) -> str:
        return "\n".join(self) if self else f"(no log lines for {self.name})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


class _Progress:
    """A live status line (updated in place) while a service's instances come up.

    It appears only once the call has taken ``DELAY_S``: a quick change (or a
    quick failure) shows just its summary or its one error line.
    """

    DELAY_S = 1.0

    def __init__(self, kernel: Any, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.started = time.monotonic()
        self.last_poll = 0.0
        self.text = ""
        self.handle: Any = None

    def _line(self, text: str) -> _Html:
        from easlab.notebook.display import escape

        # the name and the state come from the cell and the kernel: text, not markup
        return _Html(f"<span style='font-family:monospace'>{escape(text)}</span>", text)

    def poll(self, desc: dict[str, Any] | None = None) -> None:
        """Update the line from ``desc`` (easlab.ops' progress callback) or a fresh describe."""
        from easlab.errors import KernelError

        now = time.monotonic()
        if now - self.started < self.DELAY_S or now - self.last_poll < 1.0:
            return
        self.last_poll = now
        try:
            d = desc if desc is not None else self.kernel.describe(self.name)
            state = (
                f"{d.get('status', '?')}, {d.get('running_instance', 0)}/"
                f"{d.get('total_instance', 0)} instances running"
            )
        except KernelError:
            state = "fetching model and processor"
        if state == self.text:
            return
        self.text = state
        line = self._line(f"⏳ {self.name}: {state} ({now - self.started:.0f} s)")
        if self.handle is None:
            from IPython.display import display

            self.handle = display(line, display_id=True)
        else:
            self.handle.update(line)

    def finish(self, failed: bool = False) -> None:
        if self.handle is not None:
            elapsed = time.monotonic() - self.started
            verb = "failed after" if failed else "done in"
            self.handle.update(self._line(f"{self.name}: {verb} {elapsed:.1f} s"))


# what %eas (no subcommand) prints, and %eas? shows: the docstring as plain text (not
# indented, no reST ``quotes``), then every subcommand's usage
_OVERVIEW = inspect.cleandoc(EasMagic.eas.__doc__ or "").replace("``", "") + "\n\n" + _usage()
EasMagic.eas.__doc__ = _OVERVIEW


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext easlab``: register ``%eas``/``%%eas`` and make ``%config EasMagic`` work."""
    magic = EasMagic(shell=ipython, parent=ipython)
    ipython.register_magics(magic)
    if magic not in ipython.configurables:
        ipython.configurables.append(magic)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext easlab``: drop the magics and their configurable."""
    ipython.configurables[:] = [c for c in ipython.configurables if not isinstance(c, EasMagic)]
    magics = ipython.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("eas", None)


def _pai_timeout(seconds: float) -> float:
    """``%eas target pai --pai-timeout S``'s value, checked as the client checks it (a
    finite number above 0; 0: not given)."""
    import math

    if seconds == 0:
        return 0.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise EasMagicError(
            f"%eas target: --pai-timeout {seconds:g} is not a number of seconds greater "
            "than 0, e.g. --pai-timeout 120"
        )
    return float(seconds)
