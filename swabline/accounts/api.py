from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import HttpError

from swabline.accounts import services
from swabline.accounts.auth import TokenAuth
from swabline.accounts.models import ApiToken, User
from swabline.accounts.permissions import grants, permissions_of

router = Router(tags=["auth"])


class TokenRequest(Schema):
    username: str
    password: str
    name: str = "api"


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_at: datetime


class GrantOut(Schema):
    role: str
    scope: str
    place_path: str | None
    site_id: int | None
    lab_id: int | None


class MeOut(Schema):
    username: str
    public_id: str
    roles: list[GrantOut]
    permissions: list[str]


class RevokedOut(Schema):
    revoked: bool


@router.post(
    "/token", response={200: TokenOut}, auth=None, summary="Exchange a password for a token"
)
def create_token(request: HttpRequest, payload: TokenRequest) -> TokenOut:
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None or not isinstance(user, User):
        raise HttpError(401, _("Wrong username or password."))
    token, raw = services.issue_token(user=user, name=payload.name)
    return TokenOut(token=raw, expires_at=token.expires_at)


@router.delete("/token", response=RevokedOut, auth=TokenAuth(), summary="Revoke this token")
def revoke_token(request: HttpRequest) -> RevokedOut:
    user = request.user
    token: ApiToken = user.api_token  # type: ignore[union-attr]
    return RevokedOut(revoked=services.revoke_token(token=token, by=user))  # type: ignore[arg-type]


@router.get("/me", response=MeOut, auth=TokenAuth(), summary="Who this token belongs to")
def me(request: HttpRequest) -> MeOut:
    user = request.user
    return MeOut(
        username=user.get_username(),
        public_id=str(user.public_id),  # type: ignore[union-attr]
        roles=[
            GrantOut(
                role=g.role,
                scope=g.kind,
                place_path=g.place_path,
                site_id=g.site_id,
                lab_id=g.lab_id,
            )
            for g in grants(user)
        ],
        permissions=sorted(permissions_of(user)),
    )
