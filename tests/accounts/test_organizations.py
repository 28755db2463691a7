from __future__ import annotations

import pytest

from apps.accounts.models import Account, Membership, Organization


def role_of(cast, person) -> str | None:
    membership = cast.acme.memberships.filter(user=person.user).first()
    return membership.role if membership else None


def test_creating_an_organization_makes_you_its_owner(client_for, cast):
    client = client_for(cast.charlie)
    response = client.post("/organizations/", {"name": "initech", "display_name": "Initech"})
    assert response.status_code == 302
    assert response["Location"] == "/organizations/initech/"
    organization = Organization.objects.get(name="initech")
    assert organization.account.type == "organization"
    assert organization.memberships.get().user == cast.charlie.user
    assert organization.memberships.get().role == "owner"


@pytest.mark.parametrize("name", ["ALICE", "acme", "admin", "bad name"])
def test_organization_names_share_the_namespace_and_rules(client_for, cast, name):
    client = client_for(cast.charlie)
    response = client.post("/organizations/", {"name": name})
    assert response.status_code == 422
    assert 'class="error"' in response.content.decode()
    assert Account.objects.filter(name__iexact=name).count() == (
        1 if name != "admin" and " " not in name else 0
    )


def test_members_see_the_organization_and_outsiders_get_404(client, cast):
    client.force_login(cast.bob.user)
    assert client.get("/organizations/acme/").status_code == 200
    client.force_login(cast.charlie.user)
    assert client.get("/organizations/acme/").status_code == 404
    assert client.get("/organizations/nonexistent/").status_code == 404


def test_anonymous_visitors_are_sent_to_login(client, cast):
    response = client.get("/organizations/acme/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_owner_adds_a_member_by_username(client_for, cast):
    client = client_for(cast.alice)
    response = client.post(
        "/organizations/acme/members/", {"username": "Charlie", "role": "member"}
    )
    assert response.status_code == 302
    assert role_of(cast, cast.charlie) == "member"


def test_adding_an_unknown_user_shows_an_error_by_the_field(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/organizations/acme/members/", {"username": "nobody", "role": "member"})
    assert response.status_code == 422
    assert "There is no user called" in response.content.decode()


def test_adding_an_existing_member_again_is_refused(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/organizations/acme/members/", {"username": "bob", "role": "owner"})
    assert response.status_code == 422
    assert "already a member" in response.content.decode()
    assert role_of(cast, cast.bob) == "member"


def test_htmx_member_add_returns_only_the_members_section(client_for, cast):
    client = client_for(cast.alice)
    response = client.post(
        "/organizations/acme/members/",
        {"username": "charlie", "role": "member"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="members">')
    assert "charlie" in html
    assert "<html" not in html


def test_a_member_cannot_manage_members(client_for, cast):
    client = client_for(cast.bob)
    assert (
        client.post(
            "/organizations/acme/members/", {"username": "charlie", "role": "member"}
        ).status_code
        == 403
    )
    assert (
        client.post("/organizations/acme/members/alice/role/", {"role": "member"}).status_code
        == 403
    )
    assert client.post("/organizations/acme/members/alice/remove/").status_code == 403
    assert role_of(cast, cast.charlie) is None
    assert role_of(cast, cast.alice) == "owner"


def test_an_outsider_gets_404_on_every_member_action(client_for, cast):
    client = client_for(cast.charlie)
    assert (
        client.post(
            "/organizations/acme/members/", {"username": "charlie", "role": "owner"}
        ).status_code
        == 404
    )
    assert (
        client.post("/organizations/acme/members/bob/role/", {"role": "owner"}).status_code == 404
    )
    assert client.post("/organizations/acme/members/bob/remove/").status_code == 404
    assert client.post("/organizations/acme/leave/").status_code == 404
    assert role_of(cast, cast.charlie) is None
    assert role_of(cast, cast.bob) == "member"


def test_the_owner_changes_a_role(client_for, cast):
    client = client_for(cast.alice)
    assert (
        client.post("/organizations/acme/members/bob/role/", {"role": "owner"}).status_code == 302
    )
    assert role_of(cast, cast.bob) == "owner"


def test_an_unknown_role_is_refused(client_for, cast):
    client = client_for(cast.alice)
    response = client.post(
        "/organizations/acme/members/bob/role/", {"role": "emperor"}, follow=True
    )
    assert "Choose owner or member" in response.content.decode()
    assert role_of(cast, cast.bob) == "member"


def test_the_last_owner_cannot_be_demoted(client_for, cast):
    client = client_for(cast.alice)
    response = client.post(
        "/organizations/acme/members/alice/role/", {"role": "member"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "last owner" in response.content.decode()
    assert role_of(cast, cast.alice) == "owner"


def test_the_owner_removes_a_member(client_for, cast):
    client = client_for(cast.alice)
    assert client.post("/organizations/acme/members/bob/remove/").status_code == 302
    assert role_of(cast, cast.bob) is None


def test_the_last_owner_cannot_be_removed_or_leave(client_for, cast):
    client = client_for(cast.alice)
    response = client.post("/organizations/acme/members/alice/remove/", follow=True)
    assert "last owner" in response.content.decode()
    response = client.post("/organizations/acme/leave/", follow=True)
    assert "last owner" in response.content.decode()
    assert role_of(cast, cast.alice) == "owner"


def test_an_owner_can_leave_once_there_is_another_owner(client_for, cast):
    Membership.objects.filter(organization=cast.acme, user=cast.bob.user).update(role="owner")
    client = client_for(cast.alice)
    response = client.post("/organizations/acme/leave/")
    assert response.status_code == 302
    assert response["Location"] == "/organizations/"
    assert role_of(cast, cast.alice) is None


def test_a_member_can_leave(client_for, cast):
    client = client_for(cast.bob)
    assert client.post("/organizations/acme/leave/").status_code == 302
    assert role_of(cast, cast.bob) is None
    assert client.get("/organizations/acme/").status_code == 404


def test_only_owners_edit_the_organization_profile(client, cast):
    client.force_login(cast.bob.user)
    assert client.post("/organizations/acme/", {"display_name": "Hijacked"}).status_code == 403
    client.force_login(cast.alice.user)
    assert client.post("/organizations/acme/", {"display_name": "Acme Inc."}).status_code == 302
    cast.acme.refresh_from_db()
    assert cast.acme.display_name == "Acme Inc."


def test_owner_only_actions_explain_the_refusal(client_for, cast):
    client = client_for(cast.bob)
    response = client.post(
        "/organizations/acme/members/", {"username": "charlie", "role": "member"}
    )
    assert response.status_code == 403
    assert "Only owners can do this." in response.content.decode()
