"""oned XML-RPC client: typed views, one fetch per object, clear errors.

``xmlrpc.client`` (with ``transport`` and ``http.client``) is imported on first use, not at
import time: most actions never talk to oned, and this module sits on every action's
start-up path. So are the views of images and hooks, which most actions that talk to
oned never read: the methods that build them import them.
The session string is held privately and never logged, printed or put in an
error message.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union, cast

from lxml import etree

from ..runtime.errors import BackendError, BadInput, Busy, ConfigError, NotFound, Transient
from .datastore import Datastore
from .endpoint import resolve_endpoint, resolve_session, resolve_timeout
from .host import Host
from .template import TemplateValue, render_template
from .vm import Vm
from .xmlsafe import MAX_DOCUMENT_BYTES, MAX_POOL_BYTES, parse_xml

if TYPE_CHECKING:
    import xmlrpc.client

    from .hookdef import Hook
    from .image import Image

log = logging.getLogger("onesp.one.rpc")

#: oned's error codes (reference section 7).
ERROR_CODES = {
    0x0000: "SUCCESS", 0x0100: "AUTHENTICATION", 0x0200: "AUTHORIZATION", 0x0400: "NO_EXISTS",
    0x0800: "ACTION", 0x1000: "XML_RPC_API", 0x2000: "INTERNAL", 0x4000: "ALLOCATE",
    0x8000: "LOCKED", 0x10000: "REPLICATION",
}
NO_EXISTS = 0x0400
LOCKED = 0x8000


class OnedError(BackendError):
    """oned answered a call with a failure (or a fault); ``code`` is oned's error code."""

    def __init__(self, message: str, *, method: str, code: int) -> None:
        super().__init__(message)
        self.method = method
        self.code = code


class OnedNotFound(NotFound):
    """oned says the object does not exist (NO_EXISTS)."""

    def __init__(self, message: str, *, method: str, code: int = NO_EXISTS) -> None:
        super().__init__(message)
        self.method = method
        self.code = code


class OnedLocked(Busy):
    """oned refuses because the object is locked (LOCKED)."""

    def __init__(self, message: str, *, method: str, code: int = LOCKED) -> None:
        super().__init__(message)
        self.method = method
        self.code = code


View = TypeVar("View")
TemplateArg = Union[str, Mapping[str, TemplateValue]]
#: An XML-RPC parameter of the calls made here (a bool is an int too).
Param = Union[int, str]
#: A cache key: the method, the object id and the extra parameters (or "document").
_Key = Tuple[Union[int, str], ...]


def _public_endpoint(endpoint: str) -> str:
    """The endpoint without any user:password@ part, for messages."""
    scheme, sep, rest = endpoint.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return scheme + sep + rest


class OneClient:
    """Typed access to oned. Each object is fetched at most once per instance."""

    def __init__(self, endpoint: str, session: str, timeout: float = 30, *,
                 retries: int = 3, retry_delay: float = 0.2) -> None:
        if not endpoint.lower().startswith(("http://", "https://")):
            raise ConfigError("oned endpoint %r is not an http:// or https:// URL" % _public_endpoint(endpoint))
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.retries = max(1, int(retries))
        self.retry_delay = retry_delay
        self.__session = session
        self._proxy: Optional[xmlrpc.client.ServerProxy] = None
        # key -> a view, a list of views (pools) or a text (documents, version): the key's method says which
        self._cache: Dict[_Key, object] = {}

    @classmethod
    def from_environment(cls, env: Optional[Mapping[str, str]] = None, home: Optional[str] = None,
                         timeout: Optional[float] = None) -> "OneClient":
        """Endpoint, session and timeout (``ONE_XMLRPC_TIMEOUT``) resolved like the oned CLI does."""
        return cls(
            resolve_endpoint(env, home),
            resolve_session(env, home),
            timeout if timeout is not None else resolve_timeout(env),
        )

    def __repr__(self) -> str:
        return "OneClient(%r)" % _public_endpoint(self.endpoint)

    # Objects -------------------------------------------------------------------
    def vm(self, vm_id: int) -> Vm:
        return self._info("one.vm.info", int(vm_id), "VM", Vm.from_xml)

    def image(self, image_id: int) -> Image:
        from .image import Image  # see the module's docstring

        return self._info("one.image.info", int(image_id), "IMAGE", Image.from_xml)

    def datastore(self, ds_id: int, decrypt: bool = False) -> Datastore:
        extra = (True,) if decrypt else ()
        return self._info("one.datastore.info", int(ds_id), "DATASTORE", Datastore.from_xml, extra)

    def host(self, id_or_name: Union[int, str]) -> Host:
        """A host by id, or by name.

        By name, the id comes from the history of a VM already read in this action (one
        ``one.host.info``, whatever the number of hosts); only a name no known VM ran on
        costs the host pool (fetched once).
        """
        if isinstance(id_or_name, int) or (str(id_or_name).strip().isdigit() and len(str(id_or_name).strip()) <= 10):
            return self._info("one.host.info", int(id_or_name), "HOST", Host.from_xml)
        name = str(id_or_name).strip()
        for key, view in list(self._cache.items()):
            if key[0] == "one.vm.info" and isinstance(view, Vm):
                for record in view.history:
                    if record.hostname == name:
                        host = self.host(record.hid)
                        if host.name == name:
                            return host
        for host in self.host_pool():
            if host.name == name:
                return host
        raise NotFound("oned has no host named %r" % name)

    # Pools ---------------------------------------------------------------------
    def vm_pool(self, filter: int = -2, start: int = -1, end: int = -1, state: int = -1,
                query: Optional[str] = None, extended: bool = True) -> List[Vm]:
        """``one.vmpool.infoextended`` (full VMs) or, with ``extended=False``, the short bodies.

        ``query`` is passed only when given (7.0 takes JSON, 6.x a filter string).
        """
        method = "one.vmpool.infoextended" if extended else "one.vmpool.info"
        params: Tuple[Param, ...] = (int(filter), int(start), int(end), int(state))
        if query is not None and extended:
            params += (str(query),)
        vms = self._pool(method, params, "VM_POOL", "VM", Vm.from_xml)
        if extended:
            for vm in vms:
                self._cache.setdefault(("one.vm.info", vm.id), vm)
        return vms

    def image_pool(self, filter: int = -2, start: int = -1, end: int = -1) -> List[Image]:
        from .image import Image  # see the module's docstring

        images = self._pool("one.imagepool.info", (int(filter), int(start), int(end)),
                            "IMAGE_POOL", "IMAGE", Image.from_xml)
        for image in images:
            self._cache.setdefault(("one.image.info", image.id), image)
        return images

    def datastore_pool(self) -> List[Datastore]:
        datastores = self._pool("one.datastorepool.info", (), "DATASTORE_POOL", "DATASTORE", Datastore.from_xml)
        for ds in datastores:
            self._cache.setdefault(("one.datastore.info", ds.id), ds)
        return datastores

    def host_pool(self) -> List[Host]:
        hosts = self._pool("one.hostpool.info", (), "HOST_POOL", "HOST", Host.from_xml)
        for host in hosts:
            self._cache.setdefault(("one.host.info", host.id), host)
        return hosts

    def hook_pool(self) -> List[Hook]:
        """Every hook (``one.hookpool.info``, all owners, all ids)."""
        from .hookdef import Hook  # see the module's docstring

        return self._pool("one.hookpool.info", (-2, -1, -1), "HOOK_POOL", "HOOK", Hook.from_xml)

    def document(self, kind: str, obj_id: int, decrypt: bool = False) -> str:
        """The text oned answers to ``one.<kind>.info`` (vm, image, datastore, host), fetched once.

        For handing documents on to another driver unchanged (tm restore gives the VM, the
        backup image and its datastore to the backup driver's ``ls``); actions read views.
        """
        if kind not in ("vm", "image", "datastore", "host"):
            raise ValueError("no %r documents in oned" % kind)
        method = "one.%s.info" % kind
        params: Tuple[Param, ...] = (int(obj_id),) + ((True,) if decrypt else ())
        key = (method, int(obj_id), "document") + params[1:]  # dropped with the object's views on an update
        return self._text(key, method, params)

    def version(self) -> str:
        return self._text(("one.system.version",), "one.system.version", ())

    # Writes ----------------------------------------------------------------------
    def image_update(self, image_id: int, template: TemplateArg, append: bool = True) -> int:
        """Merge (``append``) or replace the image TEMPLATE."""
        return self._update("one.image.update", "one.image.info", image_id, template, append)

    def datastore_update(self, ds_id: int, template: TemplateArg, append: bool = True) -> int:
        """Merge (``append``) or replace the datastore TEMPLATE."""
        return self._update("one.datastore.update", "one.datastore.info", ds_id, template, append)

    def vm_update(self, vm_id: int, template: TemplateArg, append: bool = True) -> int:
        """Merge (``append``) or replace the VM USER_TEMPLATE."""
        return self._update("one.vm.update", "one.vm.info", vm_id, template, append)

    def remember(self, vm: Vm) -> None:
        """Keep a VM document oned gave the action directly (stdin) as if ``vm()`` had read it."""
        self._cache.setdefault(("one.vm.info", int(vm.id)), vm)

    def forget(self) -> None:
        """Drop everything cached; the next read asks oned again."""
        self._cache.clear()

    # Internals -------------------------------------------------------------------
    def _text(self, key: _Key, method: str, params: Tuple[Param, ...]) -> str:
        cached = self._cache.get(key)
        if not isinstance(cached, str):
            cached = self._cache[key] = str(self._call(method, params))
        return cached

    def _info(self, method: str, obj_id: int, root: str, build: Callable[[etree._Element], View],
              extra: Tuple[Param, ...] = ()) -> View:
        key: _Key = (method, obj_id) + extra
        if key not in self._cache:
            text = self._call(method, (obj_id,) + extra)
            element = parse_xml(str(text), what="%s(%d) answer" % (method, obj_id), root=root,
                                max_bytes=MAX_DOCUMENT_BYTES)
            view = build(element)
            self._cache[key] = view
            if extra:
                self._cache.setdefault((method, obj_id), view)
        return cast(View, self._cache[key])  # what build() made for this method

    def _pool(self, method: str, params: Tuple[Param, ...], root: str, item: str,
              build: Callable[[etree._Element], View]) -> List[View]:
        key: _Key = (method,) + params
        if key not in self._cache:
            text = self._call(method, params)
            element = parse_xml(str(text), what="%s answer" % method, root=root, max_bytes=MAX_POOL_BYTES)
            self._cache[key] = [build(node) for node in element.findall(item)]
        return list(cast(List[View], self._cache[key]))  # what build() made for this method

    def _update(self, method: str, info_method: str, obj_id: int, template: TemplateArg, append: bool) -> int:
        text = template if isinstance(template, str) else render_template(template)
        result = self._call(method, (int(obj_id), text, 1 if append else 0), idempotent=False)
        if not isinstance(result, int):
            raise OnedError("oned %s: unexpected answer %.60r" % (method, result), method=method, code=0)
        # The object and every cached pool may now be stale; the next read asks oned again.
        for key in [k for k in self._cache if k[:2] == (info_method, int(obj_id)) or "pool" in str(k[0])]:
            del self._cache[key]
        return result

    def _call(self, method: str, params: Tuple[Param, ...], idempotent: bool = True) -> object:
        """oned's answer value (a text for the info calls, an id for the others); OnedError and
        its kinds for a failure answer, Transient when oned cannot be reached."""
        import http.client
        import xmlrpc.client
        from xml.parsers.expat import ExpatError

        shown = "%s(%s)" % (method, ", ".join("<text>" if isinstance(p, str) else repr(p) for p in params))
        for param in params:
            if isinstance(param, int) and not isinstance(param, bool) and not -2**31 <= param < 2**31:
                # oned's XML-RPC carries 32-bit integers: such an id names no object
                raise BadInput("%s: %d is out of range for an OpenNebula id" % (method, param))
        where = _public_endpoint(self.endpoint)
        for attempt in range(1, self.retries + 1):
            started = time.monotonic()
            try:
                if self._proxy is None:
                    from .transport import server_proxy

                    self._proxy = server_proxy(self.endpoint, self.timeout)
                answer: object = getattr(self._proxy, method)(self.__session, *params)
            except xmlrpc.client.Fault as fault:
                raise OnedError("oned %s: fault %s: %s" % (shown, fault.faultCode, fault.faultString),
                                method=method, code=int(fault.faultCode)) from fault
            except xmlrpc.client.ProtocolError as exc:
                self._drop_proxy()
                status = "oned %s at %s: HTTP %s %s" % (shown, where, exc.errcode, exc.errmsg)
                # from None: a ProtocolError's text names the endpoint as given, user:password included
                if exc.errcode < 500:
                    raise OnedError(status, method=method, code=0) from None
                if idempotent and attempt < self.retries:
                    self._pause(attempt)
                    continue
                raise Transient(status) from None
            except socket.timeout as exc:
                self._drop_proxy()
                raise Transient("oned %s at %s: no answer within %gs" % (shown, where, self.timeout)) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop_proxy()
                retry = idempotent or isinstance(exc, ConnectionRefusedError)
                if retry and attempt < self.retries:
                    log.debug("oned %s attempt %d failed: %s", method, attempt, exc)
                    self._pause(attempt)
                    continue
                raise Transient("cannot reach oned at %s for %s: %s" % (where, method, _reason(exc))) from exc
            except (xmlrpc.client.ResponseError, ExpatError, ValueError) as exc:
                raise OnedError("oned %s: malformed answer: %s" % (shown, exc), method=method, code=0) from exc
            log.debug("oned %s answered in %.1f ms", shown, (time.monotonic() - started) * 1000)
            return self._result(method, shown, answer)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, method: str, shown: str, answer: object) -> object:
        if not isinstance(answer, (list, tuple)) or len(answer) < 2 or not isinstance(answer[0], bool):
            raise OnedError("oned %s: unexpected answer %.60r" % (shown, answer), method=method, code=0)
        if answer[0]:
            return answer[1]
        message = str(answer[1]).strip()
        code = answer[2] if len(answer) > 2 and isinstance(answer[2], int) else 0
        text = "oned %s: %s (%s)" % (shown, message, ERROR_CODES.get(code, hex(code)))
        if code == NO_EXISTS:
            raise OnedNotFound(text, method=method, code=code)
        if code == LOCKED:
            raise OnedLocked(text, method=method, code=code)
        raise OnedError(text, method=method, code=code)

    def _pause(self, attempt: int) -> None:
        time.sleep(self.retry_delay * attempt)

    def _drop_proxy(self) -> None:
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            try:
                proxy("close")()
            except Exception:  # closing a broken connection may fail again; nothing to do
                pass


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)
