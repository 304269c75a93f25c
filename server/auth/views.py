"""Auth endpoints (sign-in, refresh, sign-out, me) and user administration."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from server.auth import service
from server.auth.models import User
from server.auth.principal import ADMIN_ONLY, ALL_ROLES, current, roles_required
from server.auth.schemas import (
    FirebaseLoginSchema,
    LoginSchema,
    RefreshSchema,
    TokenSchema,
    UserCreateSchema,
    UserQueryArgsSchema,
    UserSchema,
    UserUpdateSchema,
)
from server.auth.service_accounts import SERVICE_EMAIL_SUFFIX
from server.db import db
from server.http import Blueprint, get_or_404, paginate

auth_blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sign-in and tokens.")
users_blp = Blueprint("users", __name__, url_prefix="/users", description="User administration.")


@auth_blp.route("/login")
class Login(MethodView):
    """Password sign-in."""

    @auth_blp.arguments(LoginSchema)
    @auth_blp.response(200, TokenSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Exchange email and password for tokens."""
        return service.login(
            db_session=db.session(), email=data["email"], password=data["password"]
        )


@auth_blp.route("/refresh")
class Refresh(MethodView):
    """Token rotation."""

    @auth_blp.arguments(RefreshSchema)
    @auth_blp.response(200, TokenSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Trade a refresh token for a new pair (the old one stops working)."""
        return service.refresh(db_session=db.session(), refresh_token=data["refresh_token"])


@auth_blp.route("/logout")
class Logout(MethodView):
    """Sign-out."""

    @auth_blp.arguments(RefreshSchema)
    @auth_blp.response(204)
    def post(self, data: dict[str, Any]) -> None:
        """Revoke the refresh token and every token rotated from it."""
        service.logout(db_session=db.session(), refresh_token=data["refresh_token"])


@auth_blp.route("/firebase")
class FirebaseLogin(MethodView):
    """Firebase ID-token exchange for the technician app."""

    @auth_blp.arguments(FirebaseLoginSchema)
    @auth_blp.response(200, TokenSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Exchange a Firebase ID token for our tokens."""
        return service.firebase_login(db_session=db.session(), id_token=data["id_token"])


@auth_blp.route("/me")
class Me(MethodView):
    """The signed-in user."""

    @roles_required(*ALL_ROLES)
    @auth_blp.response(200, UserSchema)
    def get(self) -> Any:
        """Who am I."""
        return get_or_404(User, current().user_id)


@users_blp.route("")
class Users(MethodView):
    """Users of this tenant."""

    @roles_required(*ADMIN_ONLY)
    @users_blp.arguments(UserQueryArgsSchema, location="query")
    @users_blp.response(200, UserSchema(many=True))
    @users_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List users."""
        stmt = select(User).order_by(User.email)
        if "role" in args:
            stmt = stmt.where(User.role == args["role"])
        if "is_active" in args:
            stmt = stmt.where(User.is_active == args["is_active"])
        if not args.get("service_accounts", False):
            stmt = stmt.where(User.email.not_like(f"%{SERVICE_EMAIL_SUFFIX}"))
        return paginate(stmt, pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @users_blp.arguments(UserCreateSchema)
    @users_blp.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user."""
        return service.create_user(db_session=db.session(), data=data)


@users_blp.route("/<uuid:user_id>")
class UserById(MethodView):
    """One user."""

    @roles_required(*ADMIN_ONLY)
    @users_blp.response(200, UserSchema)
    def get(self, user_id: uuid.UUID) -> Any:
        """Get a user."""
        return get_or_404(User, user_id)

    @roles_required(*ADMIN_ONLY)
    @users_blp.arguments(UserUpdateSchema)
    @users_blp.response(200, UserSchema)
    def patch(self, data: dict[str, Any], user_id: uuid.UUID) -> Any:
        """Update a user."""
        user = get_or_404(User, user_id)
        return service.update_user(
            db_session=db.session(), user=user, data=data, actor_id=current().user_id
        )
