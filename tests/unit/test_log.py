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
