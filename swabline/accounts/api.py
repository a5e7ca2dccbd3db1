from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from swabline.accounts import services, twofactor
from swabline.accounts.auth import TokenAuth
from swabline.accounts.enums import ApiScope
from swabline.accounts.lockout import cooloff_minutes, locked_message
from swabline.accounts.models import ApiToken, User
from swabline.accounts.permissions import grants, permissions_of

router = Router(tags=["auth"])


class TokenRequest(Schema):
    username: str
    password: str
    name: str = "api"
    # ApiScope values; omitted: every scope the user's roles allow (not read_only).
    scopes: list[ApiScope] | None = None
    # The authenticator's code (or a backup code), for users who need a second factor.
    otp: str = ""


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"  # noqa: S105
    expires_at: datetime
    scopes: list[str]


class Refused(Schema):
    detail: str


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
    scopes: list[str]


class RevokedOut(Schema):
    revoked: bool


@router.post(
    "/token",
    response={200: TokenOut, 401: Refused, 403: Refused, 429: Refused},
    auth=None,
    summary="Exchange a password for a token",
)
def create_token(request: HttpRequest, payload: TokenRequest) -> Status:
    """Failures count towards the login lock-out like the web form's (django-axes):
    a locked username and address pair gets 429 even with the right password. Users
    who need a second factor must send its code as `otp`."""
    user = authenticate(request, username=payload.username, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        return Status(429, Refused(detail=locked_message(cooloff_minutes())))
    if user is None or not isinstance(user, User):
        return Status(401, Refused(detail=_("Wrong username or password.")))
    if (
        twofactor.requires_two_factor(user)
        and twofactor.verify(user=user, code=payload.otp) is None
    ):
        return Status(
            401, Refused(detail=_("This account needs the code from its authenticator (otp)."))
        )
    try:
        scopes = None if payload.scopes is None else [str(s) for s in payload.scopes]
        token, raw = services.issue_token(user=user, name=payload.name, scopes=scopes)
    except services.ScopeError as exc:
        detail = _("Your roles do not allow these scopes: %(scopes)s") % {
            "scopes": ", ".join(exc.scopes)
        }
        return Status(403, Refused(detail=detail))
    return Status(200, TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes))


@router.delete(
    "/token", response=RevokedOut, auth=TokenAuth(any_method=True), summary="Revoke this token"
)
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
        scopes=list(user.api_token.scopes),  # type: ignore[union-attr]
    )
