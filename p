time="2026-12-07T05:27:58.570393Z" level=debug msg="record: ocirt 0.1.0, root --debug, arguments ['Kj']"
time="2026-12-07T05:27:58.589262Z" level=debug msg="record: ocirt 0.1.0, root --debug, arguments ['Kj']"
time="2026-12-07T05:27:58.605643Z" level=debug msg="record: ocirt 0.1.0, root --debug, arguments ['Kj']"
time="2026-12-07T05:27:58.622206Z" level=debug msg="record: ocirt 0.1.0, root --debug, arguments ['Kp']"
