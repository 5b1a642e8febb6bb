async def test_forged_cursors_are_400_naming_cursor(client, register):
    import base64
    import json

    from tests.problems import assert_problem

    me = await register()
    forged = [
        base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")
        for parts in (["x", "y"], ["x"], ["runs", "not-a-date", "nope"], ["ledger", "1", "x"])
    ] + ["%%%", "e30"]
    for path in ("/me/runs", "/live/runs", "/creator/sales", "/me/ledger"):
        for cursor in forged:
            r = await client.get(path, params={"cursor": cursor}, headers=me.headers)
            assert_problem(r, 400, "cursor")
