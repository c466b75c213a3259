from tests.support import Api


def test_health(api: Api) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_register_login_me(api: Api) -> None:
    tokens = api.register("Alice@Example.com")
    assert tokens["user"]["email"] == "alice@example.com"
    me = api.get("/api/v1/auth/me", token=tokens["access_token"])
    assert me.status_code == 200, me.json
    assert me.json["id"] == tokens["user"]["id"]


def test_firestore_operations_are_metered(api: Api) -> None:
    from tests.support import ops

    tokens = api.register("metered@example.com")
    me = api.get("/api/v1/auth/me", token=tokens["access_token"])
    assert ops(me) == {"reads": 2, "writes": 0, "deletes": 0}  # the session, the user
