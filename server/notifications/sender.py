"""Senders: build FCM messages with firebase-admin and deliver them (or record them).

``FcmSender`` talks to Firebase Cloud Messaging; ``FakeSender`` keeps the built messages in
memory and is chosen whenever no credentials are configured, so development, tests and
demo installs never reach Google.
"""

from __future__ import annotations

import enum
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from firebase_admin import exceptions as fb_exceptions
from firebase_admin import messaging

log = logging.getLogger(__name__)

# send_each accepts at most this many messages per call.
FCM_BATCH_LIMIT = 500
FIREBASE_APP_NAME = "fsm-notifications"


@dataclass(frozen=True)
class Push:
    """One message for one registration token; a title or body makes it user-visible."""

    token: str
    data: Mapping[str, str]
    collapse_key: str | None = None
    title: str | None = None
    body: str | None = None

    @property
    def visible(self) -> bool:
        """True for a notification the user sees; False for a silent data message."""
        return self.title is not None or self.body is not None


class Outcome(enum.Enum):
    """What became of one push."""

    SENT = "sent"
    # FCM says the token is dead (uninstalled app, wrong project, malformed): revoke it.
    TOKEN_INVALID = "token_invalid"
    # Anything else (quota, outage, auth, network): try again later.
    FAILED = "failed"


@dataclass(frozen=True)
class SendResult:
    """The outcome of one push, with the error text when it did not go out."""

    token: str
    outcome: Outcome
    error: str | None = None


class Sender(Protocol):
    """Delivers pushes; returns one result per push, in order, and never raises per push."""

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        """Deliver the pushes."""
        ...


def build_message(push: Push) -> messaging.Message:
    """The firebase-admin Message for a push: data-only background tickle or visible alert."""
    data = {str(k): str(v) for k, v in push.data.items()}
    apns_headers = {
        # Background pushes must use priority 5 or APNs drops them; alerts go out at once.
        "apns-push-type": "alert" if push.visible else "background",
        "apns-priority": "10" if push.visible else "5",
    }
    if push.collapse_key:
        apns_headers["apns-collapse-id"] = push.collapse_key
    if push.visible:
        aps = messaging.Aps(sound="default")
        notification = messaging.Notification(title=push.title, body=push.body)
        # Same tag: a repeated notice (a retry) replaces the one on screen, not stacks.
        android_notification = messaging.AndroidNotification(tag=push.collapse_key)
    else:
        aps = messaging.Aps(content_available=True)
        notification = None
        android_notification = None
    # firebase-admin 7.5+ deprecates Message.token in favour of installation ids (fid);
    # the registry stores registration tokens (what the client SDKs' getToken() returns)
    # and FCM's v1 API still targets them with "token".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return messaging.Message(
            token=push.token,
            data=data,
            notification=notification,
            android=messaging.AndroidConfig(
                collapse_key=push.collapse_key,
                priority="high",
                notification=android_notification,
            ),
            apns=messaging.APNSConfig(headers=apns_headers, payload=messaging.APNSPayload(aps=aps)),
        )


def classify(token: str, error: BaseException) -> SendResult:
    """Map a firebase-admin error to an outcome: dead token, or retry later."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return SendResult(token, Outcome.TOKEN_INVALID, text)
    # INVALID_ARGUMENT also covers bad payloads; only a complaint about the token kills it,
    # so one malformed message cannot revoke every device.
    if isinstance(error, fb_exceptions.InvalidArgumentError) and "token" in str(error).lower():
        return SendResult(token, Outcome.TOKEN_INVALID, text)
    return SendResult(token, Outcome.FAILED, text)


class FcmSender:
    """Sends through Firebase Cloud Messaging with firebase-admin's ``send_each``."""

    def __init__(self, app: Any = None) -> None:
        self.app = app

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FcmSender:
        """A sender on a named firebase-admin app built from the configured credentials."""
        import firebase_admin
        from firebase_admin import credentials

        try:
            return cls(firebase_admin.get_app(FIREBASE_APP_NAME))
        except ValueError:
            pass
        path = config.get("FIREBASE_CREDENTIALS_FILE")
        credential = credentials.Certificate(path) if path else credentials.ApplicationDefault()
        options = {}
        if config.get("FIREBASE_PROJECT_ID"):
            options["projectId"] = config["FIREBASE_PROJECT_ID"]
        app = firebase_admin.initialize_app(credential, options, name=FIREBASE_APP_NAME)
        return cls(app)

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        """Send in batches of at most 500; a failed batch call fails each of its pushes."""
        results: list[SendResult] = []
        for start in range(0, len(pushes), FCM_BATCH_LIMIT):
            chunk = pushes[start : start + FCM_BATCH_LIMIT]
            try:
                messages = [build_message(p) for p in chunk]
                batch = messaging.send_each(messages, app=self.app)
            except Exception as exc:  # credentials, network, encoding: retry the rows later
                log.warning("FCM batch failed: %s", exc)
                results.extend(SendResult(p.token, Outcome.FAILED, str(exc)) for p in chunk)
                continue
            for push, response in zip(chunk, batch.responses, strict=True):
                if response.success:
                    results.append(SendResult(push.token, Outcome.SENT))
                else:
                    results.append(classify(push.token, response.exception))
        return results


@dataclass
class FakeSender:
    """Records every built message in memory; failures can be scripted per token."""

    messages: list[messaging.Message] = field(default_factory=list)
    delivered: list[messaging.Message] = field(default_factory=list)
    _failures: dict[str, list[BaseException]] = field(default_factory=dict)

    def fail(self, token: str, error: BaseException, *, times: int = 1) -> None:
        """Make the next ``times`` sends to ``token`` fail with ``error``."""
        self._failures.setdefault(token, []).extend([error] * times)

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        """Build each message like FcmSender does and keep it; no network."""
        results = []
        for push in pushes:
            message = build_message(push)
            self.messages.append(message)
            queued = self._failures.get(push.token)
            if queued:
                results.append(classify(push.token, queued.pop(0)))
                continue
            self.delivered.append(message)
            results.append(SendResult(push.token, Outcome.SENT))
        return results


def make_sender(config: Mapping[str, Any]) -> Sender:
    """FcmSender when Firebase credentials are configured, else a FakeSender."""
    if config.get("FIREBASE_CREDENTIALS_FILE") or config.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return FcmSender.from_config(config)
    if config.get("ENV_NAME") == "production":
        log.warning("No Firebase credentials: push notifications are recorded, not sent.")
    return FakeSender()
