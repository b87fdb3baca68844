"""The `translator` command's subcommands from the `translator.commands` entry-point group."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint

import pytest

from translator.cli import main as cli


def subcommands(p: argparse.ArgumentParser) -> dict:
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices


def fake_entry_points(*values: tuple[str, str]):
    eps = [EntryPoint(name, value, cli.COMMANDS_GROUP) for name, value in values]
    return lambda group: [ep for ep in eps if ep.group == group]


def test_serve_comes_from_the_worker_entry_point(capsys):
    sv = subcommands(cli.parser())["serve"]
    args = sv.parse_args(["--port", "8123", "--no-web"])
    assert (args.host, args.port, args.text_threads, args.doc_processes, args.no_web) == \
        ("127.0.0.1", 8123, 64, 1, True)
    assert args.func.__module__ == "worker.cli"
    assert capsys.readouterr().err == ""  # every registered command loaded


def test_a_broken_entry_point_warns_and_the_others_still_work(monkeypatch, capsys):
    monkeypatch.setattr(cli, "entry_points", fake_entry_points(
        ("broken", "no_such_module_for_translator:register"),
        ("train", "worker.cli:register"),  # a name already taken
        ("serve", "worker.cli:register")))
    p = cli.parser()
    assert {"train", "translate", "evaluate", "average", "download", "serve"} <= \
        set(subcommands(p)) and "broken" not in subcommands(p)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "translator: warning: command 'broken' (no_such_module_for_translator:register) is "
        "unavailable: ModuleNotFoundError: No module named 'no_such_module_for_translator'",
        "translator: warning: command 'train' (worker.cli:register) is left out: the name is "
        "taken"]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["download", "--help"])
    assert exit_info.value.code == 0
