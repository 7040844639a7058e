"""-v/--verbose and --log-level on every verb: Python logging records of the package reach stderr at the level
asked for, before or after the verb, and the handler is gone after the run."""

from __future__ import annotations

import argparse
import logging

import pytest

from mllmshift.cli.main import build_parser, log_level, main


def _level(argv):
    return log_level(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv, level", [
    (["emi", "x.jsonl"], logging.WARNING),
    (["emi", "x.jsonl", "-v"], logging.INFO),
    (["-v", "emi", "x.jsonl"], logging.INFO),
    (["emi", "-vv", "x.jsonl"], logging.DEBUG),
    (["emi", "x.jsonl", "-vvvv"], logging.DEBUG),
    (["--log-level", "error", "emi", "x.jsonl"], logging.ERROR),
    (["emi", "x.jsonl", "--log-level", "INFO", "-vv"], logging.INFO),  # the name wins over -v
    (["shift", "list", "-v"], logging.INFO),                            # sub-verbs take them too
])
def test_the_flags_give_the_level(argv, level):
    assert _level(argv) == level


def test_every_verb_and_sub_verb_has_the_flags():
    def walk(p: argparse.ArgumentParser, path: str):
        opts = {o for a in p._actions for o in a.option_strings}
        assert {"-v", "--verbose", "--log-level"} <= opts, path
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, child in a.choices.items():
                    walk(child, f"{path} {name}")
    walk(build_parser(), "mllmshift")


def test_a_bad_level_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args(["emi", "x.jsonl", "--log-level", "loud"])
    assert err.value.code == 2 and "--log-level" in capsys.readouterr().err


def test_records_reach_stderr_at_the_level_asked_and_the_handler_is_removed(tmp_path, capsys, monkeypatch):
    """A debug record of the preflight check is shown with -vv and not without; nothing stays attached."""
    url = "http://127.0.0.1:9/v1"  # nothing listens: the run stops after the one check
    data = tmp_path / "q.jsonl"
    data.write_text('{"id": "1", "question": "q?"}\n')
    logger = logging.getLogger("mllmshift")
    before = list(logger.handlers), logger.level
    argv = ["respond", "--base-url", url, "--model", "m", "--data", str(data), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "debug" not in capsys.readouterr().err
    assert main([*argv, "-vv"]) == 1
    err = capsys.readouterr().err
    assert "mllmshift respond: debug: mllmshift.responders.preflight: preflight: GET " + url + "/models" in err
    assert (list(logger.handlers), logger.level) == before
