from services.gateway.domain.openapi_merge import merge_documents


def doc(paths, schemas):
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def test_paths_and_schemas_are_merged_with_tags_and_security():
    own = doc({"/api/v1/users": {"get": {"summary": "users"}}}, {"UserOut": {"type": "object"}})
    invite = doc(
        {"/api/v1/invites": {"post": {"summary": "create", "requestBody": ref("InviteIn")}}},
        {"InviteIn": {"type": "object"}},
    )
    merged = merge_documents(
        own, {"invite_service": invite}, title="T", version="1", server_url="http://x"
    )
    assert merged["openapi"] == "3.1.0"
    assert set(merged["paths"]) == {"/api/v1/users", "/api/v1/invites"}
    assert merged["paths"]["/api/v1/invites"]["post"]["tags"] == ["invite_service"]
    assert merged["paths"]["/api/v1/users"]["get"]["tags"] == ["gateway"]
    assert set(merged["components"]["schemas"]) == {"UserOut", "InviteIn"}
    assert "bearer" in merged["components"]["securitySchemes"]
    assert merged["servers"] == [{"url": "http://x"}]


def test_colliding_schema_names_are_renamed_with_their_refs():
    a = doc({"/a": {"get": {"responses": {"200": ref("Page")}}}}, {"Page": {"title": "A"}})
    b = doc(
        {"/b": {"get": {"responses": {"200": ref("Page")}}}},
        {"Page": {"title": "B", "properties": {"next": ref("Page")}}},
    )
    same = doc({"/c": {"get": {"responses": {"200": ref("Page")}}}}, {"Page": {"title": "A"}})
    merged = merge_documents(
        doc({}, {}),
        {"a_service": a, "b_service": b, "c_service": same},
        title="T",
        version="1",
        server_url="http://x",
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Page"] == {"title": "A"}
    assert schemas["b_service__Page"]["properties"]["next"] == ref("b_service__Page")
    assert merged["paths"]["/b"]["get"]["responses"]["200"] == ref("b_service__Page")
    assert merged["paths"]["/c"]["get"]["responses"]["200"] == ref("Page")


def test_missing_services_are_named():
    merged = merge_documents(
        doc({}, {}),
        {},
        title="T",
        version="1",
        server_url="http://x",
        unavailable=["report_service"],
    )
    assert merged["info"]["x-unavailable-services"] == ["report_service"]
