import json

from hypothesis import given, strategies as st

from ocirt import log


@given(st.text())
def test_messages_stay_on_one_line(msg):
    out = log.one_line(msg)
    assert len(out.splitlines()) <= 1
    if msg.isprintable():
        assert out == msg


def test_json_log_line(tmp_path, capsys):
    path = tmp_path / "log.json"
    log.configure(str(path), "json")
    try:
        log.error("bad\nthing")
    finally:
        log.configure()
    entry = json.loads(path.read_text())
    assert entry["level"] == "error" and entry["msg"] == "bad\\nthing"
    assert capsys.readouterr().err == "bad\\nthing\n"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_text_log_quotes_the_message(tmp_path_factory, msg):
    """The text format is logfmt: msg="..." with \\ and " escaped, so that a
    reader (logrus's, containerd's) gets the message back whatever it says."""
    import re
    path = tmp_path_factory.mktemp("log") / "log.txt"
    log.configure(str(path), "text")
    try:
        log.warning(msg)
    finally:
        log.configure()
    line = path.read_text()
    assert line.endswith("\n") and line.count("\n") == 1
    m = re.fullmatch(r'time="[^"]+" level=warning msg="((?:[^"\\]|\\.)*)"\n', line)
    assert m, line
    assert re.sub(r"\\(.)", r"\1", m.group(1)) == log.one_line(msg).replace("\\\\", "\\\\")
