"""Python (allspark) processors: an EAS ``app.py`` run unchanged (SPEC §6)."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from easlab.allspark import answer_of
from easlab.kernel.own_files import loader_for
from easlab.kernel.processors.base import Processor, ProcessorContext, ProcessorError


def _entry_file(ctx: ProcessorContext) -> Path:
    folder = ctx.processor_path
    entry = ctx.processor_entry or "app.py"
    if folder is None:
        raise ProcessorError(400, "a python processor needs `processor_path` (the app.py folder)")
    path = folder / entry if folder.is_dir() else folder
    if not path.is_file():
        raise ProcessorError(
            400, f"processor_entry {entry!r} not found in {folder}; check processor_entry"
        )
    return path


def app_worker_threads(path: Path) -> tuple[int, int] | None:
    """``(N, line)`` where the app's own code calls ``X(worker_threads=N)`` at module level
    or under ``if __name__ == "__main__":``, as EAS runs it (``python app.py``); else None.

    On EAS that constructor argument is how many requests the app processes at once
    (the SDK's manual; ``easlab init``'s template passes 10). The kernel builds the
    processor itself and never runs the ``__main__`` block, so it reads the number from
    the file: a literal only, the app's code is not run for it. Function and class
    bodies are not read (a helper that builds another processor is not the app's start).
    """
    return app_constructor_arg(path, "worker_threads")


def app_worker_processes(path: Path) -> tuple[str, int] | None:
    """``(M, line)``, M as written, where the app's start passes ``worker_processes=M``
    other than 1 (a literal or not: ``worker_processes=N`` counts, as the kernel cannot
    know N); else None. On EAS, M > 1 starts M processes per instance, each running
    ``initialize()``; the kernel runs one (``worker_processes_warning`` says so)."""
    for value, line in _start_keywords(path, "worker_processes"):
        if isinstance(value, ast.Constant) and type(value.value) is int and value.value <= 1:
            continue
        return ast.unparse(value), line
    return None


def worker_processes_warning(entry_file: Path, entry: str) -> str:
    """The warning a create gives for an app whose start passes ``worker_processes``
    (``app_worker_processes``): "" when it passes none, or 1."""
    found = app_worker_processes(entry_file)
    if found is None:
        return ""
    processes, line = found
    many = processes if processes.isdigit() else "that many"
    return (
        f"{entry} line {line} passes worker_processes={processes}: on PAI-EAS an instance "
        f"then runs {many} processes, each calling initialize(); the local kernel runs one "
        "process per instance (initialize() once, its worker_threads answering requests at "
        f"once), so here each instance is one process. For {many} processes, each with its "
        f"own initialize(), give {many} times the instances here (metadata.instance)"
    )


def _start_keywords(path: Path, name: str) -> list[tuple[ast.expr, int]]:
    """Each ``X(name=value)`` in the app's start (module level, ``__main__`` block; not
    function or class bodies): (value, line) each."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return []  # the instance's start reports a file it cannot load
    found = []
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                found += [(k.value, node.lineno) for k in node.keywords if k.arg == name]
    return found


def app_constructor_arg(path: Path, name: str) -> tuple[int, int] | None:
    """``(N, line)`` of the first ``X(name=N)`` (N an int literal >= 1) in the app's start."""
    for value, line in _start_keywords(path, name):
        if isinstance(value, ast.Constant) and type(value.value) is int and value.value >= 1:
            return value.value, line
    return None


def find_processor_class(module: Any) -> type:
    """The ``allspark.BaseProcessor`` subclass an app module defines."""
    import allspark

    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, allspark.BaseProcessor)
        and value is not allspark.BaseProcessor
    ]
    own = [cls for cls in found if cls.__module__ == module.__name__]
    candidates = own or found
    if not candidates:
        # the classes it does define: one of them is most likely meant to be the processor
        classes = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == module.__name__
        ]
        some = "its class {} does not" if len(classes) == 1 else "its classes {} do not"
        named = (
            f" ({some.format(', '.join(classes))} derive from it: the class line reads "
            f"`class {classes[-1]}(allspark.BaseProcessor):`)"
            if classes
            else ""
        )
        raise ProcessorError(
            400,
            f"{module.__file__} defines no subclass of allspark.BaseProcessor{named}; "
            "write `class MyProcessor(allspark.BaseProcessor)` with initialize() and process(), "
            "or point processor_entry at the file that has it",
        )
    return candidates[-1]


def _exit_in_request(exc: BaseException, where: str) -> RuntimeError:
    what = type(exc).__name__ + (f"({exc})" if str(exc) else "")
    return RuntimeError(
        f"{where} raised {what}: the instance keeps serving; to refuse a request, "
        "return (message, status), e.g. `return b'bad input', 400`"
    )


#: import names whose PyPI package is named otherwise (the manual's FAQ: cv2)
_PIP_NAMES = {
    "cv2": "opencv-python-headless",
    "sklearn": "scikit-learn",
    "PIL": "Pillow",
    "yaml": "PyYAML",
    "google.protobuf": "protobuf",
}


def _where_to_install(name: str) -> str:
    """What to do about a module app.py imports that this Python lacks: install it into
    the Python the instance runs (the package's ENV, named as the user's own folder)."""
    from easlab.kernel.own_files import own_file

    top = name.split(".")[0]
    pip = _PIP_NAMES.get(name) or _PIP_NAMES.get(top) or top
    if sys.prefix != sys.base_prefix and Path(sys.prefix, "pyvenv.cfg").is_file():
        env = Path(own_file(str(Path(sys.prefix, "pyvenv.cfg")))).parent
        return (
            f"the instance runs the package's ENV ({env}/bin/python), which lacks it: "
            f"`{env}/bin/python -m pip install {pip}` (a module of your own: put {top}.py "
            "next to app.py), then `easlab pysdk pack` again if processor_path is the archive"
        )
    return (
        f"the instance runs the kernel's Python ({sys.executable}), which lacks it: "
        f"`{sys.executable} -m pip install {pip}`, or give the package its own ENV "
        "(`easlab pysdk init DIR --force`) as on EAS (a module of your own: put "
        f"{top}.py next to app.py)"
    )


def _check_process(app: Any) -> None:
    """Refuse, at the start, an app whose process() every request would fail on: one the
    class does not define (a ``predict``, a ``Process``), or one that takes no body."""
    import inspect

    import allspark
    from easlab.kernel.own_files import own_file

    cls = type(app)
    source = inspect.getsourcefile(cls)
    where = f"{cls.__name__} ({own_file(source) if source else '?'})"
    if callable(getattr(cls, "process_batch", None)):
        return  # an easlab batch app (rpc.batching) may answer through process_batch alone
    if getattr(cls, "process", None) is allspark.BaseProcessor.process:
        own = sorted(
            name
            for name, value in vars(cls).items()
            if callable(value) and not name.startswith("__") and name != "initialize"
        )
        defines = f"; it defines {', '.join(own)}" if own else ""
        raise ProcessorError(
            400,
            f"{where} has no process(self, data){defines}: every request calls "
            "process(data) with the request body (bytes) and answers its (data, status_code)",
        )
    try:
        inspect.signature(app.process).bind(b"")
    except TypeError:
        line = inspect.getsourcelines(cls.process)[1] if inspect.isfunction(cls.process) else 0
        raise ProcessorError(
            400,
            f"{where}, line {line}: process{inspect.signature(app.process)} cannot take the "
            "request body: write `def process(self, data):` (data: the body, bytes)",
        ) from None
    except ValueError:  # no signature to read (a builtin): let the requests tell
        return


def _load_app(loader: Any, module: Any) -> Any:
    """Run app.py's module code; the processor it called ``run()`` on, if it did.

    An app.py written as a script (``MyProcessor(worker_threads=10).run()`` at module
    level, no ``__main__`` guard) runs that way on EAS; imported here, the SDK's run()
    would serve its own HTTP server on 0.0.0.0:8080 and never return, the instance
    stuck in its start. While the module runs, ``BaseProcessor.run`` only records its
    processor (the SDK's class: easlab's allspark or the ENV's copy of it).
    """
    import allspark

    base = allspark.BaseProcessor
    started: list[Any] = []
    original = base.__dict__.get("run")

    def run_in_kernel(self: Any, *args: Any, **kwargs: Any) -> None:
        started.append(self)

    base.run = run_in_kernel  # type: ignore[method-assign]
    try:
        loader.exec_module(module)
    finally:
        if original is None:
            del base.run
        else:
            base.run = original  # type: ignore[method-assign]
    return started[-1] if started else None


class PythonProcessor(Processor):
    """Loads ``processor_path/processor_entry`` and drives its allspark class."""

    def __init__(self, ctx: ProcessorContext) -> None:
        super().__init__(ctx)
        self.app: Any = None
        #: what a start failure names (the worker's heading): the import, then initialize()
        self.start_step = "initialize()"

    def initialize(self) -> None:
        try:
            self._start()
        except ModuleNotFoundError as exc:
            if exc.name and exc.msg:
                # same exception, same traceback: its message says where to install
                exc.msg = f"{exc.msg}; {_where_to_install(exc.name)}"
            raise

    def _start(self) -> None:
        path = _entry_file(self.ctx)
        folder = path.parent
        # The app imports its neighbours and opens relative files, as inside EAS.
        sys.path.insert(0, str(folder))
        os.chdir(folder)
        # a packaged app's tracebacks name the user's own file (own_files.py)
        loader = loader_for(path.stem, str(path))
        spec = importlib.util.spec_from_file_location(path.stem, path, loader=loader)
        if spec is None or spec.loader is None:
            raise ProcessorError(400, f"cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        self.start_step = f"loading {path.name}"  # a SyntaxError, a missing import
        started = _load_app(spec.loader, module)
        if started is not None:
            # app.py calls run() as it is imported (no `if __name__ == "__main__":`), as
            # EAS runs it: that processor is the app, served by the kernel
            self.app = started
        else:
            self.start_step = f"finding the processor class in {path.name}"
            cls = find_processor_class(module)
            self.start_step = f"{cls.__name__}(worker_threads=...)"
            try:
                self.app = cls(worker_threads=self.ctx.worker_threads)
            except TypeError:  # an app that overrides __init__ without the SDK's arguments
                self.app = cls()
        self.start_step = f"checking {type(self.app).__name__}.process"
        _check_process(self.app)
        self.start_step = "initialize()"
        self.app.initialize()

    def process(self, data: bytes) -> tuple[bytes, int]:
        try:
            return answer_of(self.app.process(data))
        except (SystemExit, KeyboardInterrupt) as exc:
            # not an Exception: the worker thread would end with the call unanswered,
            # its caller waiting for the 408 and the instance for the stuck-call kill;
            # its frames (the app's line that exited) go with it to the service log
            raise _exit_in_request(exc, "process()").with_traceback(exc.__traceback__) from exc

    def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
        """With ``rpc.batching``: the app's own ``process_batch(list)`` if it has one (an
        easlab extension), else ``process`` once per request."""
        batch = getattr(self.app, "process_batch", None)
        if not callable(batch):
            return [self.process(data) for data in requests]
        try:
            results = batch(requests)
        except (SystemExit, KeyboardInterrupt) as exc:
            raise _exit_in_request(exc, "process_batch()") from exc
        if not isinstance(results, (list, tuple)) or len(results) != len(requests):
            got = (
                f"{len(results)} answer(s)"
                if isinstance(results, (list, tuple))
                else type(results).__name__
            )
            raise TypeError(
                f"process_batch() must return a list of one (data, status_code) per "
                f"request, in order: it got {len(requests)} request(s) and returned {got}"
            )
        return [answer_of(result) for result in results]

    @property
    def lone_batch_is_process(self) -> bool:
        # an app's own process_batch may treat a list differently from one call
        return not callable(getattr(self.app, "process_batch", None))

    def close(self) -> None:
        closer = getattr(self.app, "close", None)
        if callable(closer):
            closer()
