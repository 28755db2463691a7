from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views
from apps.accounts.forms import ThrottledLoginForm

org = "organizations/<str:org_name>/"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html",
            redirect_authenticated_user=True,
            authentication_form=ThrottledLoginForm,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html", success_url="/account/password/done/"
        ),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("account/", views.account, name="account"),
    path("account/context/", views.account_context, name="account_context"),
    path("account/webhook-secret/", views.webhook_secret, name="webhook_secret"),
    path("account/tokens/", views.token_create, name="token_create"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("organizations/", views.organization_list, name="organizations"),
    path(org, views.organization_detail, name="organization"),
    path(org + "members/", views.member_add, name="member_add"),
    path(org + "members/<str:username>/role/", views.member_role, name="member_role"),
    path(org + "members/<str:username>/remove/", views.member_remove, name="member_remove"),
    path(org + "leave/", views.organization_leave, name="organization_leave"),
    path(org + "webhook-secret/", views.webhook_secret, name="organization_webhook_secret"),
    path(org + "tokens/", views.token_create, name="organization_token_create"),
    path(
        org + "tokens/<int:token_id>/revoke/",
        views.token_revoke,
        name="organization_token_revoke",
    ),
    path("avatars/<str:name>.svg", views.avatar, name="avatar"),
]
