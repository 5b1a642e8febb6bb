async def test_healthz_and_register_login_me(client, register):
    r = await client.get("/../../healthz")
    assert r.status_code == 200
    acct = await register()
    me = await client.get("/me", headers=acct.headers)
    assert me.status_code == 200, me.text
    assert me.json()["handle"] == acct.handle
    r = await client.post(
        "/auth/login", json={"email": acct["email"], "password": acct["password"]}
    )
    assert r.status_code == 200, r.text
    r = await client.get("/../../readyz")
    assert r.status_code == 200, r.text
