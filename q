time="2026-12-07T05:19:02.900930Z" level=debug msg="record: ocirt 0.1.0, root /run/ocirt, arguments ['Uq']"
time="2026-12-07T05:19:02.905331Z" level=debug msg="record: ocirt 0.1.0, root /run/ocirt, arguments ['Uq']"
