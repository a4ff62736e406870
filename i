time="2026-12-07T05:19:02.443282Z" level=debug msg="record: ocirt 0.1.0, root OY4dLcH_ivs, arguments ['4D+']"
{"level": "debug", "msg": "record: ocirt 0.1.0, root OY4dLcH_ivs, arguments ['4D+']", "time": "2026-12-07T05:19:02.445820Z"}
