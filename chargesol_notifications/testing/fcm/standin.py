"""``FcmStandin``: the loopback FCM that tests (the app's and yours) push through.

The real ``firebase-admin`` and ``google-auth`` do all their work against it: sign a JWT
with the service account's key, fetch an access token from ``token_uri``, and send each
message to ``messages:send`` with it. The stand-in checks the signature, the token and
every request against FCM's v1 schema, records what it accepted (:attr:`pushes`) and
answers what a test arranged (:meth:`unregister`, :meth:`fail`) the way FCM does.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from ..twilio.server import LoopbackServer
from .accounts import DEFAULT_PROJECT_ID, ServiceAccount
from .api import FcmApi, SpecViolation


class FcmStandin(FcmApi):
    """A running loopback stand-in of FCM's HTTP v1 API and Google's token endpoint.

    :param project_id: the Firebase project of its service account (:attr:`account`).
    :param host: the loopback address to listen on; ``port`` 0 lets the OS pick.
    """

    def __init__(
        self, project_id: str = DEFAULT_PROJECT_ID, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__()
        self.project_id = project_id
        #: The service account the stand-in trusts; its key is made for this stand-in.
        self.account = ServiceAccount.generate(project_id)
        self.trust(self.account)
        self._server = LoopbackServer(self, host, port)  # type: ignore[arg-type]

    # -- lifetime ----------------------------------------------------------------------

    def start(self) -> FcmStandin:
        self._server.start()
        self.token_uri = f"{self.url}/token"
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FcmStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The root URL (``http://127.0.0.1:<port>``): the backend's ``ENDPOINT``."""
        return f"http://{self._server.host}:{self._server.port}"

    # -- what a project's settings need ---------------------------------------------------

    def service_account_info(self, account: ServiceAccount | None = None) -> dict[str, str]:
        """The service-account JSON (as a dict) of ``account`` (default: the trusted one),
        its ``token_uri`` at this stand-in."""
        return (account or self.account).info(self.token_uri)

    def backend_options(self, **options: Any) -> dict[str, Any]:
        """``OPTIONS`` for ``FcmBackend`` that push through this stand-in."""
        return {"CREDENTIALS": self.service_account_info(), "ENDPOINT": self.url, **options}

    # -- checks ----------------------------------------------------------------------------

    def take_violations(self) -> list[SpecViolation]:
        """The requests that broke FCM's schema so far, forgotten once returned."""
        with self._lock:
            taken, self.violations = self.violations, []
        return taken

    def assert_no_violations(self) -> None:
        violations = self.take_violations()
        if violations:
            lines = [
                f"{v.path}: " + "; ".join(f"{p.field}: {p.description}" for p in v.problems)
                for v in violations
            ]
            raise AssertionError("Requests FCM would refuse as malformed:\n" + "\n".join(lines))
