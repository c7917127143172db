"""``LocalKMS``: a local KMS with boto3's method names, parameters, responses and errors.

Every call goes through the same steps, in the order AWS applies them:

1. parameters checked against botocore's service model (``validation.py``);
2. due events applied (keys whose deletion date has passed are deleted, automatic rotations due
   happen), so an injected clock drives time;
3. the key named by ``KeyId`` (key id, key ARN, alias name, alias ARN) looked up:
   ``NotFoundException``;
4. authorization by kmsguard's simulator, before any cryptography (``authorize.py``):
   ``AccessDeniedException`` (skipped with ``enforce_policies=False``);
5. key state, key usage, algorithm and size checks, then the operation itself (``engine.py``);
   with ``DryRun=True`` everything but the effect runs and ``DryRunOperationException`` answers.

State (keys, aliases, grants) lives in one ``_Store`` per Region, shared by ``as_principal`` views;
``in_region`` gives a view of the same account in another Region (multi-Region keys). Nothing is
written to disk, nothing is logged.

Speed: each view keeps, per store generation (every change to keys, aliases or grants starts a new
one), the simulator's ``AuthzInputs`` per key and the simulator's answer per identical request --
the simulator is a pure function of (inputs, request) and reads no clock -- so a repeated call costs
a dictionary lookup, not a policy evaluation.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from kmsguard.authz.types import AuthzInputs, ContextValue, Decision, Outcome, Request
from kmsguard.crypto import authorize, engine, primitives
from kmsguard.crypto.authorize import CallerView
from kmsguard.crypto.engine import KmsFailure
from kmsguard.crypto.errors import ALIAS_NOT_FOUND, KEY_NOT_FOUND, exception_classes, kms_error
from kmsguard.crypto.keys import (
    DEFAULT_PENDING_WINDOW_DAYS,
    DEFAULT_ROTATION_DAYS,
    MAX_PENDING_WINDOW_DAYS,
    MIN_PENDING_WINDOW_DAYS,
    KeyMaterial,
    KmsKey,
    Secret,
    default_key_policy,
    key_metadata,
    next_rotation_after,
    rotation_due,
)
from kmsguard.crypto.primitives import Drbg
from kmsguard.crypto.specs import (
    DATA_KEY_BYTES,
    ENCRYPT_DECRYPT,
    KEY_SPECS,
    NOT_EMULATED,
    SYMMETRIC_DEFAULT,
    WRAPPING_ALGORITHMS,
    WRAPPING_KEY_SPECS,
    grant_operations_for,
)
from kmsguard.crypto.validation import (
    client_side,
    normalise_blobs,
    passes_all,
    range_problem,
    server_side,
)
from kmsguard.model import Grant, GrantConstraints, Policy, PolicyKind, Source

_KEY_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):kms:(?P<region>[\w-]+):(?P<account>\d{12}):key/(?P<id>.+)$"
)
_ALIAS_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):kms:(?P<region>[\w-]+):(?P<account>\d{12}):(?P<alias>alias/.+)$"
)
_UUID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")

# API Reference, "GetParametersForImport": "Each public key and import token set is valid for 24 hours."
IMPORT_PARAMETERS_LIFETIME = timedelta(hours=24)
# API Reference, "ImportKeyMaterial", ValidTo: "The maximum value is 365 days from the request date."
MAX_IMPORT_VALIDITY = timedelta(days=365)

# Wording of kmsguard's own (AWS documents no message for these answers).
DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."
# Observed AWS wording for the lockout safety check (CreateKey / PutKeyPolicy).
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _seed_bytes(seed: int | str | bytes | None) -> bytes | None:
    if seed is None or isinstance(seed, bytes):
        return seed
    return str(seed).encode("utf-8")


@dataclass(frozen=True)
class AliasRecord:
    name: str  # "alias/app"
    target_key_id: str
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class ImportParameters:
    """One GetParametersForImport answer: the RSA wrapping key and what its token is for."""

    key_id: str
    key_arn: str
    wrapping_algorithm: str
    wrapping_key: Secret = field(repr=False)
    valid_to: datetime


@dataclass(frozen=True)
class GrantRecord:
    grant: Grant  # the simulator's view of the grant
    grant_id: str
    token: str  # the first token; ``grant.grant_tokens`` holds every token issued for the grant
    key_id: str
    created: datetime
    issuing_account: str
    operations: tuple[str, ...]
    constraints: Mapping[str, Any] | None = None


class _Tracked(dict):  # type: ignore[type-arg]
    """A dict that counts its changes in its store's ``generation`` (caches compare it)."""

    __slots__ = ("_store",)

    def __init__(self, store: _Store) -> None:
        super().__init__()
        self._store = store

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._store.generation += 1

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._store.generation += 1


@dataclass(eq=False)  # stores refer to each other (world): identity, not value, equality
class _Store:
    """The mutable state every view of one LocalKMS shares. Every change to ``keys``, ``aliases``
    or ``grants`` bumps ``generation``; the per-view authorization caches and the next-event time
    are valid for one generation only."""

    account: str
    region: str
    partition: str
    drbg: Drbg
    clock: Callable[[], datetime]
    enforce_policies: bool
    client_validation: bool
    on_demand_rotation_limit: int
    keys: dict[str, KmsKey] = field(init=False)
    aliases: dict[str, AliasRecord] = field(init=False)
    grants: dict[str, GrantRecord] = field(init=False)
    # Key policies the simulator evaluates instead of a key's own (set_authorization_policy).
    policy_overrides: dict[str, Policy | None] = field(init=False)
    generation: int = 0
    # Every Region's store of this account (shared by all of them): multi-Region keys live in
    # several. Import parameters (GetParametersForImport) by import token.
    world: dict[str, _Store] = field(init=False)
    request_ids: engine.RequestIds = field(init=False)
    import_parameters: dict[str, ImportParameters] = field(init=False)
    # (generation, earliest deletion date or automatic rotation among the keys, or None)
    next_event: tuple[int, datetime | None] = (-1, None)

    def __post_init__(self) -> None:
        self.keys = _Tracked(self)
        self.aliases = _Tracked(self)
        self.grants = _Tracked(self)
        self.policy_overrides = _Tracked(self)
        self.world = {self.region: self}
        self.import_parameters = {}
        self.request_ids = engine.RequestIds(self.drbg)

    def in_region(self, region: str) -> _Store:
        """This account's store in ``region`` (created empty on first use, sharing the randomness,
        the clock and the settings)."""
        found = self.world.get(region)
        if found is None:
            found = _Store(
                account=self.account,
                region=region,
                partition=self.partition,
                drbg=self.drbg,
                clock=self.clock,
                enforce_policies=self.enforce_policies,
                client_validation=self.client_validation,
                on_demand_rotation_limit=self.on_demand_rotation_limit,
            )
            found.world = self.world
            found.import_parameters = self.import_parameters
            found.request_ids = self.request_ids
            self.world[region] = found
        return found

    def __repr__(self) -> str:
        return f"_Store(account={self.account}, region={self.region}, keys={len(self.keys)})"


@dataclass(frozen=True)
class AuthorizationEvent:
    """One authorization decision, as ``LocalKMS(on_decision=...)`` receives it.

    ``operation``: the KMS operation (``"Encrypt"``; ``"ReEncrypt"`` for both of its actions);
    ``principal``: the caller's ARN (the session ARN for an assumed role); ``key_id`` / ``key_arn``:
    the key the action is authorized on (None for account-level actions and alias resources);
    ``request``: what the simulator was asked (action, resource, context); ``decision``: its answer.
    """

    operation: str
    principal: str
    key_id: str | None
    key_arn: str | None
    request: Request
    decision: Decision


DecisionObserver = Callable[[AuthorizationEvent], None]


class _Inherit:
    """The default of ``as_principal(on_decision=...)``: keep the parent view's observer."""


_INHERIT = _Inherit()
_View = TypeVar("_View", bound="LocalKMS")  # as_principal / in_region answer the caller's class

# Actions that are not named after their operation (KMS Developer Guide, "Permissions reference").
_OPERATION_OF_ACTION = {"kms:ReEncryptFrom": "ReEncrypt", "kms:ReEncryptTo": "ReEncrypt"}


def operation_of_action(action: str) -> str:
    """The KMS operation whose authorization uses ``action`` ("kms:Encrypt" -> "Encrypt")."""
    return _OPERATION_OF_ACTION.get(action) or action.partition(":")[2]


class LocalKMS:
    """A boto3-shaped KMS client backed by kmsguard's engine. See the module docstring.

    ``seed``: make key ids, key material and nonces deterministic (tests). ``clock``: a function
    returning the current UTC time (rotation and deletion follow it). ``client_validation``: False
    acts like a boto3 client built with ``parameter_validation=False`` (values below a shape's
    minimum become the server's ``ValidationException``). ``on_demand_rotation_limit``: AWS's 25.

    ``on_decision``: called with an ``AuthorizationEvent`` for every authorization a call makes
    (including answers remembered from an identical earlier request), before the call answers; it
    may raise to stop the call (its exception reaches the caller unchanged), and when it returns the
    call answers as AWS would (``AccessDeniedException`` unless the decision allows). Views made by
    ``as_principal`` and ``in_region`` keep it unless given their own."""

    def __init__(
        self,
        account: str = "111122223333",
        region: str = "us-east-1",
        seed: int | str | bytes | None = None,
        enforce_policies: bool = True,
        *,
        clock: Callable[[], datetime] | None = None,
        client_validation: bool = True,
        on_demand_rotation_limit: int = engine.ON_DEMAND_ROTATION_LIMIT,
        partition: str = "aws",
        on_decision: DecisionObserver | None = None,
    ) -> None:
        from kmsguard.authz.evaluate import parse_caller

        self._store = _Store(
            account=account,
            region=region,
            partition=partition,
            drbg=Drbg(_seed_bytes(seed)),
            clock=clock or _utc_now,
            enforce_policies=enforce_policies,
            client_validation=client_validation,
            on_demand_rotation_limit=on_demand_rotation_limit,
        )
        self._view = CallerView(parse_caller(account))
        self._cache = _AuthzCache()
        self._on_decision = on_decision

    # -- views ------------------------------------------------------------------------------------

    def as_principal(
        self: _View,
        principal: str,
        *,
        identity_policies: Sequence[str | Mapping[str, Any] | Policy] = (),
        permission_boundary: str | Mapping[str, Any] | Policy | None = None,
        session_policy: str | Mapping[str, Any] | Policy | None = None,
        context: Mapping[str, ContextValue] | None = None,
        on_decision: DecisionObserver | _Inherit | None = _INHERIT,
        **caller_attributes: Any,
    ) -> _View:
        """A view of the same KMS whose calls are made by ``principal`` (an IAM ARN, a session ARN,
        an account id or a service principal). ``identity_policies`` are the caller's IAM policies
        (documents, JSON text or ``Policy``); ``context`` adds request-context keys (``aws:SourceIp``,
        ``kms:ViaService``...); ``caller_attributes`` are ``parse_caller``'s (``tags``, ``org_id``,
        ``org_paths``, ``username``, ``userid``, ``role_arn``). ``on_decision``: this view's observer
        (default: this one's; None: none). The view is of this object's class, with its attributes."""
        from kmsguard.authz.evaluate import parse_caller

        view = CallerView(
            caller=parse_caller(principal, **caller_attributes),
            identity_policies=tuple(
                _as_policy(p, PolicyKind.IDENTITY, "identity policy") for p in identity_policies
            ),
            permission_boundary=_as_policy(permission_boundary, PolicyKind.BOUNDARY, "permissions boundary")
            if permission_boundary is not None
            else None,
            session_policy=_as_policy(session_policy, PolicyKind.SESSION, "session policy")
            if session_policy is not None
            else None,
            context=dict(context or {}),
        )
        clone = copy.copy(self)
        clone._view = view
        clone._cache = _AuthzCache()
        if not isinstance(on_decision, _Inherit):
            clone._on_decision = on_decision
        return clone

    def in_region(self: _View, region: str) -> _View:
        """A view of the same account and caller in another Region (where ``replicate_key`` puts
        multi-Region replicas). Each Region has its own keys, aliases and grants."""
        clone = copy.copy(self)  # keeps a subclass and its attributes
        clone._store = self._store.in_region(region)
        clone._cache = _AuthzCache()
        return clone

    @property
    def enforce_policies(self) -> bool:
        """Whether calls are authorized (shared by every view and Region of this KMS)."""
        return self._store.enforce_policies

    @enforce_policies.setter
    def enforce_policies(self, value: bool) -> None:
        for store in self._store.world.values():
            store.enforce_policies = value

    def set_authorization_policy(self, key_id: str, policy: Policy | None) -> None:
        """Authorize calls on the key ``key_id`` (a key id of this Region) against ``policy``
        instead of the key's own policy -- e.g. a model ``Policy`` read from IaC whose values are
        not all known (``Unknown``), which the simulator reports as unresolved; ``None``: evaluate
        with no key policy at all (a policy not known statically). ``GetKeyPolicy`` still answers
        the key's own policy. Shared by every view of this Region."""
        self._store.policy_overrides[key_id] = policy

    @property
    def exceptions(self) -> Any:
        """The modeled exception classes, like ``boto3.client("kms").exceptions``."""
        return exception_classes()

    @property
    def account(self) -> str:
        return self._store.account

    @property
    def region(self) -> str:
        return self._store.region

    def __repr__(self) -> str:
        return (
            f"LocalKMS(account={self._store.account!r}, region={self._store.region!r}, "
            f"caller={self._view.caller.arn!r}, keys={len(self._store.keys)})"
        )

    __str__ = __repr__

    # -- the pipeline -------------------------------------------------------------------------------

    def _run(
        self, operation: str, params: Mapping[str, Any], handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        store = self._store
        # The usual request passes every check as given (blobs already bytes); anything else is
        # converted as boto3 converts it and checked member by member as boto3 and KMS check it.
        checked = passes_all(operation, params)
        arguments = params
        if not checked:
            arguments = normalise_blobs(operation, params)
            if store.client_validation:
                client_side(operation, arguments)
        try:
            if not checked:
                server_side(operation, arguments, check_min=not store.client_validation)
            next_event = store.next_event
            if len(store.world) > 1 or next_event[1] is not None or next_event[0] != store.generation:
                self._apply_due_events()
            response = handler(arguments)
        except KmsFailure as failure:
            raise kms_error(failure.code, failure.message, operation) from None
        response["ResponseMetadata"] = {
            "RequestId": store.request_ids.next(),
            "HTTPStatusCode": 200,
            "RetryAttempts": 0,
        }
        return response

    def _now(self) -> datetime:
        return self._store.clock()

    def _apply_due_events(self) -> None:
        """Deletions whose waiting period has ended, automatic rotations whose date has come, and
        imported key material whose ValidTo has passed, in every Region of the account (KMS
        Developer Guide, "Deleting AWS KMS keys"; "Rotating AWS KMS keys": a disabled or pending-
        deletion key is not rotated; "Importing key material", "Setting an expiration time": when
        the material expires KMS deletes it and the key becomes PendingImport)."""
        stores = list(self._store.world.values())
        if all(s.next_event == (s.generation, None) for s in stores):
            return  # nothing scheduled anywhere: no need to read the clock
        now = self._now()
        # A deletion in one Region can start another Region's waiting period (a primary key that
        # was PendingReplicaDeletion), so passes repeat until nothing changes.
        for _ in range(len(stores) + 1):
            changed = False
            for store in stores:
                generation, next_event = store.next_event
                if generation == store.generation and (next_event is None or now < next_event):
                    continue
                self._apply_store_events(store, now)
                store.next_event = (store.generation, _earliest_event(store.keys.values()))
                changed = True
            if not changed:
                break

    def _apply_store_events(self, store: _Store, now: datetime) -> None:
        for key_id, key in list(store.keys.items()):
            if key.state == "PendingDeletion" and key.deletion_date is not None and key.deletion_date <= now:
                _forget_key(store, key_id)
                if key.multi_region_type == "REPLICA":
                    self._start_primary_deletion(key, key.deletion_date)
                continue
            for material in key.materials:
                if material.secret is not None and material.valid_to is not None and material.valid_to <= now:
                    key = _without_material(key, material.material_id)
                    store.keys[key_id] = key
            rotated_any = False
            while key.state == "Enabled" and key.multi_region_type != "REPLICA" and rotation_due(key, now):
                assert key.next_rotation is not None and key.rotation_period_days is not None
                rotated = engine.rotate(key, store.drbg, key.next_rotation, "AUTOMATIC")
                key = rotated.with_changes(
                    next_rotation=next_rotation_after(key.next_rotation, key.rotation_period_days)
                )
                store.keys[key_id] = key
                rotated_any = True
            if rotated_any:
                self._sync_replicas(key)

    def _start_primary_deletion(self, deleted_replica: KmsKey, moment: datetime) -> None:
        """KMS Developer Guide, "Deleting multi-Region keys": when the last replica of a primary key
        in PendingReplicaDeletion is deleted, the primary becomes PendingDeletion and its waiting
        period begins (from that moment)."""
        related = [
            s.keys[k] for s in self._store.world.values() for k in (deleted_replica.key_id,) if k in s.keys
        ]
        primary = next((k for k in related if k.multi_region_type == "PRIMARY"), None)
        if primary is None or primary.state != "PendingReplicaDeletion":
            return
        if any(k.multi_region_type == "REPLICA" for k in related):
            return
        assert primary.pending_window_days is not None
        self._store.world[primary.region].keys[primary.key_id] = primary.with_changes(
            state="PendingDeletion", deletion_date=moment + timedelta(days=primary.pending_window_days)
        )

    def _sync_replicas(self, primary: KmsKey) -> None:
        """Copy the properties related multi-Region keys share from a primary key to its replicas:
        key material versions and automatic rotation (API Reference, "ReplicateKey": "KMS
        automatically synchronizes these shared properties among related multi-Region keys")."""
        if primary.multi_region_type != "PRIMARY":
            return
        for region, store in self._store.world.items():
            replica = store.keys.get(primary.key_id)
            if region == primary.region or replica is None or replica.multi_region_type != "REPLICA":
                continue
            shared: dict[str, Any] = {
                "rotation_enabled": primary.rotation_enabled,
                "rotation_period_days": primary.rotation_period_days,
                "next_rotation": None,  # replicas never rotate by themselves
            }
            if primary.origin == "AWS_KMS":
                shared["materials"] = primary.materials
            else:  # imported material: the same records and rotation states, each replica's own imports
                mine = {m.material_id: m for m in replica.materials}
                shared["materials"] = tuple(
                    replace(
                        mine[m.material_id],
                        pending_rotation=m.pending_rotation,
                        created=m.created,
                        rotation_type=m.rotation_type,
                    )
                    for m in primary.materials
                    if m.material_id in mine
                )
            store.keys[primary.key_id] = replica.with_changes(**shared)

    def _forget_key(self, key_id: str) -> None:
        _forget_key(self._store, key_id)

    # -- lookups ------------------------------------------------------------------------------------

    def _key_arn(self, key_id: str) -> str:
        store = self._store
        return f"arn:{store.partition}:kms:{store.region}:{store.account}:key/{key_id}"

    def _alias_arn(self, alias: str) -> str:
        store = self._store
        return f"arn:{store.partition}:kms:{store.region}:{store.account}:{alias}"

    def _resolve(self, key_id: str) -> tuple[KmsKey, str | None]:
        """The key a KeyId names, and the alias name when it named an alias (for kms:RequestAlias).
        A key id or alias name is looked up in the caller's account (API Reference, "Encrypt",
        KeyId: "To specify a KMS key in a different AWS account, you must use the key ARN or alias
        ARN"). Found keys are remembered for the store generation (keys and aliases are fixed
        within one)."""
        cache = self._cache
        if cache.generation != self._store.generation:
            cache = self._fresh_cache()
        found = cache.resolved.get(key_id)
        if found is None:
            found = cache.resolved[key_id] = self._resolve_uncached(key_id)
        return found

    def _resolve_uncached(self, key_id: str) -> tuple[KmsKey, str | None]:
        store = self._store
        own_account = self._view.account in (None, store.account)
        found = _KEY_ARN.match(key_id)
        if found:
            if found["account"] != store.account or found["region"] != store.region:
                raise KmsFailure("NotFoundException", KEY_NOT_FOUND.format(arn=key_id))
            return self._key_by_id(found["id"]), None
        found = _ALIAS_ARN.match(key_id)
        if found:
            if found["account"] != store.account or found["region"] != store.region:
                raise KmsFailure("NotFoundException", ALIAS_NOT_FOUND.format(arn=key_id))
            return self._key_by_alias(found["alias"]), found["alias"]
        if key_id.startswith("alias/"):
            if not own_account:
                raise KmsFailure("NotFoundException", ALIAS_NOT_FOUND.format(arn=key_id))
            return self._key_by_alias(key_id), key_id
        if not own_account:
            raise KmsFailure("NotFoundException", KEY_NOT_FOUND.format(arn=key_id))
        return self._key_by_id(key_id), None

    def _key_by_id(self, key_id: str) -> KmsKey:
        key = self._store.keys.get(key_id)
        if key is None:
            if not _UUID.match(key_id):
                raise KmsFailure("NotFoundException", f"Invalid keyId '{key_id}'")
            raise KmsFailure("NotFoundException", KEY_NOT_FOUND.format(arn=self._key_arn(key_id)))
        return key

    def _key_by_alias(self, alias: str) -> KmsKey:
        record = self._store.aliases.get(alias)
        if record is None:
            raise KmsFailure("NotFoundException", ALIAS_NOT_FOUND.format(arn=self._alias_arn(alias)))
        return self._key_by_id(record.target_key_id)

    def _aliases_of(self, key: KmsKey) -> list[str]:
        return sorted(
            name for name, record in self._store.aliases.items() if record.target_key_id == key.key_id
        )

    def _grants_of(self, key: KmsKey) -> list[GrantRecord]:
        return [record for record in self._store.grants.values() if record.key_id == key.key_id]

    # -- authorization ------------------------------------------------------------------------------

    def _operation_context(
        self, key: KmsKey | None, extra: Mapping[str, ContextValue] | None, request_alias: str | None
    ) -> dict[str, ContextValue]:
        context: dict[str, ContextValue] = {}
        if key is not None:
            context.update(self._key_context(key))
        if request_alias is not None:
            context["kms:RequestAlias"] = request_alias
        if extra:
            context.update(extra)
        return context

    def _request(
        self,
        action: str,
        key: KmsKey | None,
        extra: Mapping[str, ContextValue] | None = None,
        *,
        request_alias: str | None = None,
        grant_tokens: Sequence[str] = (),
        resource: str | None = None,
        filtered_context: Mapping[str, ContextValue] | None = None,
    ) -> Request:
        return authorize.build_request(
            self._view,
            action,
            resource or (key.arn if key is not None else "*"),
            key.account if key is not None else self._store.account,
            self._operation_context(key, extra, request_alias) if filtered_context is None else {},
            self._store.region,
            grant_tokens,
            filtered_context=filtered_context,
        )

    def _fresh_cache(self) -> _AuthzCache:
        cache = self._cache
        if cache.generation != self._store.generation:
            cache = self._cache = _AuthzCache(self._store.generation)
        return cache

    def _key_context(self, key: KmsKey) -> dict[str, ContextValue]:
        cache = self._fresh_cache()
        found = cache.key_contexts.get(key.key_id)
        if found is None:
            found = cache.key_contexts[key.key_id] = authorize.key_context(key, self._aliases_of(key))
        return found

    def _inputs(self, key: KmsKey | None) -> AuthzInputs:
        """The simulator's inputs for this caller and key, built once per store generation: the
        simulator keeps its compiled plans per inputs object, so reusing it is what makes it fast.
        A key policy set with ``set_authorization_policy`` replaces the key's own here."""
        cache = self._fresh_cache()
        cache_key = key.key_id if key is not None else None
        found = cache.inputs.get(cache_key)
        if found is None:
            if key is None:
                found = authorize.build_inputs(self._view, None, ())
            else:
                overrides = self._store.policy_overrides
                policy = overrides[key.key_id] if key.key_id in overrides else key.policy
                found = authorize.build_inputs(self._view, policy, [g.grant for g in self._grants_of(key)])
            cache.inputs[cache_key] = found
        return found

    def _authorize(
        self,
        action: str,
        key: KmsKey | None,
        extra: Mapping[str, ContextValue] | None = None,
        *,
        request_alias: str | None = None,
        grant_tokens: Sequence[str] = (),
        resource: str | None = None,
        new_grant: Grant | None = None,
        frozen_extra: frozenset[object] | None = None,
    ) -> None:
        """The one authorization step of every call: the simulator's decision for this view's
        request, shown to ``on_decision``, then AWS's answer (nothing, or the error).
        ``frozen_extra``: ``frozenset(extra.items())`` when the caller already has it."""
        store = self._store
        if not store.enforce_policies:
            return
        if new_grant is not None:
            from kmsguard.authz.evaluate import decide_create_grant

            request = self._request(
                action, key, extra, request_alias=request_alias, grant_tokens=grant_tokens, resource=resource
            )
            self._settle(key, request, decide_create_grant(self._inputs(key), request, new_grant))
            return
        # The simulator is a pure function of (inputs, request), and within one store generation
        # this view's inputs for the key and the request context for (action, key, alias, extra)
        # are fixed, so the decision for an identical request is remembered (the memo key is taken
        # before the context is built). ``on_decision`` still sees every decision.
        cache = self._cache
        if cache.generation != store.generation:
            cache = self._fresh_cache()
        target = resource or (key.arn if key is not None else "*")
        memo_key: tuple[Any, ...] | None
        try:
            if frozen_extra is None and extra:
                frozen_extra = frozenset(extra.items())
            memo_key = (action, target, request_alias, frozen_extra, tuple(grant_tokens))
            found = cache.answers.get(memo_key)
        except TypeError:  # an unhashable context value: decided, not remembered
            memo_key = found = None
        if found is None:
            context = authorize.request_context(
                self._view, action, self._operation_context(key, extra, request_alias), store.region
            )
            request = self._request(
                action, key, grant_tokens=grant_tokens, resource=resource, filtered_context=context
            )
            found = (request, authorize.decide(self._inputs(key), request))
            if memo_key is not None:
                if len(cache.answers) >= _MAX_REMEMBERED_ANSWERS:
                    cache.answers.clear()
                cache.answers[memo_key] = found
        request, decision = found
        if self._on_decision is None and decision.outcome is _ALLOW:
            return  # the common case, without building an event nobody reads
        self._settle(key, request, decision)

    def _authorize_all(self, requests: Sequence[tuple[AuthzInputs, Request]]) -> None:
        """Operations authorized on several resources: each must allow; the first that does not
        answers."""
        if not self._store.enforce_policies:
            return
        for inputs, request in requests:
            key = next((k for k in self._store.keys.values() if k.arn == request.resource), None)
            self._settle(key, request, authorize.decide(inputs, request))

    def _settle(self, key: KmsKey | None, request: Request, decision: Decision) -> None:
        """What a call answers once the simulator decided: ``on_decision`` sees the decision first
        (and may raise), then AWS's error, or nothing."""
        if self._on_decision is not None:
            self._on_decision(
                AuthorizationEvent(
                    operation=operation_of_action(request.action),
                    principal=request.caller.session_arn or request.caller.arn,
                    key_id=key.key_id if key is not None else None,
                    key_arn=key.arn if key is not None else None,
                    request=request,
                    decision=decision,
                )
            )
        failure = authorize.denial(decision, request)
        if failure is not None:
            raise failure

    @staticmethod
    def _dry_run(params: Mapping[str, Any]) -> None:
        if params.get("DryRun"):
            raise KmsFailure("DryRunOperationException", DRY_RUN_MESSAGE)

    # -- keys -----------------------------------------------------------------------------------------

    def create_key(self, **params: Any) -> dict[str, Any]:
        return self._run("CreateKey", params, self._create_key)

    def _create_key(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        if p.get("KeySpec") and p.get("CustomerMasterKeySpec"):
            raise KmsFailure(
                "ValidationException", "You cannot specify both KeySpec and CustomerMasterKeySpec."
            )
        spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or SYMMETRIC_DEFAULT
        if spec in NOT_EMULATED:
            raise KmsFailure("UnsupportedOperationException", f"KeySpec {spec}: {NOT_EMULATED[spec]}.")
        info = KEY_SPECS[spec]
        # API Reference, "CreateKey", KeyUsage: "The default value is ENCRYPT_DECRYPT".
        usage = p.get("KeyUsage") or ENCRYPT_DECRYPT
        if usage not in info.usages:
            # API Reference, "CreateKey", KeyUsage: the usages each kind of key spec allows.
            raise KmsFailure(
                "ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}."
            )
        origin = p.get("Origin") or "AWS_KMS"
        if origin not in ("AWS_KMS", "EXTERNAL") or p.get("CustomKeyStoreId") or p.get("XksKeyId"):
            raise KmsFailure(
                "UnsupportedOperationException",
                f"kmsguard does not emulate keys with origin {origin} or in custom key stores.",
            )
        multi_region = bool(p.get("MultiRegion"))
        tags = tuple((t["TagKey"], t["TagValue"]) for t in p.get("Tags") or ())
        bypass = bool(p.get("BypassPolicyLockoutSafetyCheck"))
        request_context: dict[str, ContextValue] = {
            "kms:KeySpec": spec,
            "kms:KeyUsage": usage,
            "kms:KeyOrigin": origin,
            "kms:MultiRegion": "true" if multi_region else "false",
            "kms:BypassPolicyLockoutSafetyCheck": "true" if bypass else "false",
        }
        if multi_region:
            request_context["kms:MultiRegionKeyType"] = "PRIMARY"
        for tag_key, tag_value in tags:
            request_context[f"aws:RequestTag/{tag_key}"] = tag_value
        if tags:
            request_context["aws:TagKeys"] = tuple(k for k, _ in tags)
        self._authorize("kms:CreateKey", None, request_context)

        key_id = engine.new_key_id(store.drbg)
        if multi_region:
            # KMS Developer Guide, "Multi-Region key identifiers": "mrk-" followed by 32 hex digits.
            key_id = "mrk-" + key_id.replace("-", "")
        arn = self._key_arn(key_id)
        policy_text = p.get("Policy") or default_key_policy(store.account, store.partition)
        policy = self._checked_policy(policy_text, arn, bypass, check_resource=False)
        now = self._now()
        # API Reference, "CreateKey", Origin: EXTERNAL creates a key with no key material, in the
        # PendingImport state (KMS Developer Guide, "Key states of AWS KMS keys").
        materials = () if origin == "EXTERNAL" else (engine.new_material(info, store.drbg, now, None),)
        key = KmsKey(
            key_id=key_id,
            arn=arn,
            account=store.account,
            region=store.region,
            spec=spec,
            usage=usage,
            created=now,
            materials=materials,
            policy_text=policy_text,
            policy=policy,
            description=p.get("Description") or "",
            origin=origin,
            tags=tags,
            state="PendingImport" if origin == "EXTERNAL" else "Enabled",
            multi_region=multi_region,
            multi_region_type="PRIMARY" if multi_region else None,
        )
        store.keys[key_id] = key
        return {"KeyMetadata": self._metadata(key)}

    def _checked_policy(self, text: str, key_arn: str, bypass: bool, check_resource: bool) -> Policy:
        """The checks KMS makes before accepting a key policy (API Reference, "CreateKey" /
        "PutKeyPolicy", Policy): grammar (MalformedPolicyDocumentException), size
        (LimitExceededException), and, unless bypassed, the lockout safety check."""
        from kmsguard.authz.evaluate import validate_key_policy
        from kmsguard.load.policy_builder import RULE_SIZE, build_policy

        policy, diagnostics = build_policy(text, PolicyKind.KEY, resource=key_arn)
        if diagnostics:
            first = diagnostics[0]
            code = (
                "LimitExceededException" if first.rule_id == RULE_SIZE else "MalformedPolicyDocumentException"
            )
            raise KmsFailure(code, first.message)
        if not isinstance(policy, Policy):
            raise KmsFailure("MalformedPolicyDocumentException", "The key policy cannot be read.")
        if bypass:
            return policy
        rejection = validate_key_policy(
            policy,
            self._view.caller,
            False,
            key_arn=key_arn if check_resource else None,
            inputs=self._inputs(None),
        )
        if rejection is not None:
            reason = rejection.trace[-1].reason if rejection.trace else ""
            message = LOCKOUT_MESSAGE if "lockout" in reason else reason
            raise KmsFailure("MalformedPolicyDocumentException", message)
        return policy

    def describe_key(self, **params: Any) -> dict[str, Any]:
        return self._run("DescribeKey", params, self._describe_key)

    def _describe_key(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:DescribeKey", key, request_alias=alias, grant_tokens=p.get("GrantTokens") or ())
        return {"KeyMetadata": self._metadata(key)}

    def _metadata(self, key: KmsKey) -> dict[str, Any]:
        """DescribeKey's KeyMetadata, with the MultiRegionConfiguration of multi-Region keys (API
        Reference, "MultiRegionConfiguration": the key's type, its primary key and its replicas)."""
        metadata = key_metadata(key)
        if key.multi_region:
            related = self._related_keys(key)
            primary = next((k for k in related if k.multi_region_type == "PRIMARY"), None)
            metadata["MultiRegionConfiguration"] = {
                "MultiRegionKeyType": key.multi_region_type,
                "PrimaryKey": {"Arn": primary.arn, "Region": primary.region} if primary else {},
                "ReplicaKeys": [
                    {"Arn": k.arn, "Region": k.region} for k in related if k.multi_region_type == "REPLICA"
                ],
            }
        return metadata

    def _related_keys(self, key: KmsKey) -> list[KmsKey]:
        """The key and its related multi-Region keys in every Region, primary first."""
        found = [
            other
            for region in sorted(self._store.world)
            if (other := self._store.world[region].keys.get(key.key_id)) is not None and other.multi_region
        ]
        return sorted(found, key=lambda k: (k.multi_region_type != "PRIMARY", k.region))

    def list_keys(self, **params: Any) -> dict[str, Any]:
        return self._run("ListKeys", params, self._list_keys)

    def _list_keys(self, p: dict[str, Any]) -> dict[str, Any]:
        self._authorize("kms:ListKeys", None)
        entries = [{"KeyId": k.key_id, "KeyArn": k.arn} for k in self._store.keys.values()]
        return _page(entries, "Keys", p)

    def _state_change(self, operation: str, p: dict[str, Any], **changes: Any) -> KmsKey:
        key, alias = self._resolve(p["KeyId"])
        self._authorize(f"kms:{operation}", key, request_alias=alias)
        engine.require_state(operation, key)
        updated = key.with_changes(**changes)
        self._store.keys[key.key_id] = updated
        return updated

    def enable_key(self, **params: Any) -> dict[str, Any]:
        return self._run(
            "EnableKey", params, lambda p: (self._state_change("EnableKey", p, state="Enabled"), {})[1]
        )

    def disable_key(self, **params: Any) -> dict[str, Any]:
        return self._run(
            "DisableKey", params, lambda p: (self._state_change("DisableKey", p, state="Disabled"), {})[1]
        )

    def schedule_key_deletion(self, **params: Any) -> dict[str, Any]:
        return self._run("ScheduleKeyDeletion", params, self._schedule_key_deletion)

    def _schedule_key_deletion(self, p: dict[str, Any]) -> dict[str, Any]:
        days = p.get("PendingWindowInDays", DEFAULT_PENDING_WINDOW_DAYS)
        # API Reference, "ScheduleKeyDeletion", PendingWindowInDays: "between 7 and 30, inclusive".
        problem = range_problem("PendingWindowInDays", days, MIN_PENDING_WINDOW_DAYS, MAX_PENDING_WINDOW_DAYS)
        if problem is not None:
            raise problem
        key, alias = self._resolve(p["KeyId"])
        self._authorize(
            "kms:ScheduleKeyDeletion",
            key,
            {"kms:ScheduleKeyDeletionPendingWindowInDays": str(days)},
            request_alias=alias,
        )
        engine.require_state("ScheduleKeyDeletion", key)
        if key.multi_region_type == "PRIMARY" and self._has_replicas(key):
            # API Reference, "ScheduleKeyDeletion": "If you schedule the deletion of a primary key with
            # replicas, its key state changes to PendingReplicaDeletion ... When the last of its
            # replicas keys is deleted (not just scheduled), the key state of the primary key changes
            # to PendingDeletion and its waiting period (PendingWindowInDays) begins"; DeletionDate
            # "does not appear".
            self._store.keys[key.key_id] = key.with_changes(
                state="PendingReplicaDeletion", deletion_date=None, pending_window_days=days
            )
            return {"KeyId": key.arn, "KeyState": "PendingReplicaDeletion", "PendingWindowInDays": days}
        deletion = self._now() + timedelta(days=days)
        self._store.keys[key.key_id] = key.with_changes(
            state="PendingDeletion", deletion_date=deletion, pending_window_days=days
        )
        return {
            "KeyId": key.arn,
            "DeletionDate": deletion,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }

    def _has_replicas(self, key: KmsKey) -> bool:
        return any(k.multi_region_type == "REPLICA" for k in self._related_keys(key))

    def cancel_key_deletion(self, **params: Any) -> dict[str, Any]:
        return self._run("CancelKeyDeletion", params, self._cancel_key_deletion)

    def _cancel_key_deletion(self, p: dict[str, Any]) -> dict[str, Any]:
        # KMS Developer Guide, "Deleting AWS KMS keys", "Canceling key deletion": the key's state
        # becomes Disabled.
        key = self._state_change(
            "CancelKeyDeletion", p, state="Disabled", deletion_date=None, pending_window_days=None
        )
        if key.origin == "EXTERNAL" and not key.all_material_imported:
            # A key whose imported material is gone has no material to be Disabled with: it returns
            # to PendingImport (KMS Developer Guide, "Key states of AWS KMS keys", PendingImport).
            key = self._store.keys[key.key_id] = key.with_changes(state="PendingImport")
        return {"KeyId": key.arn}

    # -- rotation -------------------------------------------------------------------------------------

    def enable_key_rotation(self, **params: Any) -> dict[str, Any]:
        return self._run("EnableKeyRotation", params, self._enable_key_rotation)

    def _enable_key_rotation(self, p: dict[str, Any]) -> dict[str, Any]:
        period = p.get("RotationPeriodInDays", DEFAULT_ROTATION_DAYS)
        key, alias = self._resolve(p["KeyId"])
        self._authorize(
            "kms:EnableKeyRotation", key, {"kms:RotationPeriodInDays": str(period)}, request_alias=alias
        )
        engine.require_state("EnableKeyRotation", key)
        engine.require_rotatable(key)
        engine.require_not_replica("EnableKeyRotation", key)
        updated = self._store.keys[key.key_id] = key.with_changes(
            rotation_enabled=True,
            rotation_period_days=period,
            next_rotation=next_rotation_after(self._now(), period),
        )
        self._sync_replicas(updated)
        return {}

    def disable_key_rotation(self, **params: Any) -> dict[str, Any]:
        return self._run("DisableKeyRotation", params, self._disable_key_rotation)

    def _disable_key_rotation(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:DisableKeyRotation", key, request_alias=alias)
        engine.require_state("DisableKeyRotation", key)
        engine.require_rotatable(key)
        engine.require_not_replica("DisableKeyRotation", key)
        updated = self._store.keys[key.key_id] = key.with_changes(
            rotation_enabled=False, rotation_period_days=None, next_rotation=None
        )
        self._sync_replicas(updated)
        return {}

    def get_key_rotation_status(self, **params: Any) -> dict[str, Any]:
        return self._run("GetKeyRotationStatus", params, self._get_key_rotation_status)

    def _get_key_rotation_status(self, p: dict[str, Any]) -> dict[str, Any]:
        """API Reference, "GetKeyRotationStatus": answered for every key that can rotate -- on demand
        included, so for symmetric keys with imported material too ("You can use GetKeyRotationStatus
        to identify the date and time that an in progress on-demand rotation was initiated"; their
        automatic rotation cannot be enabled, so it reads false). "Pending deletion: While a KMS key
        is pending deletion, its key rotation status is false ... If you cancel the deletion, the
        original key rotation status returns to true"; "Disabled: The key rotation status does not
        change". (LocalKMS rotates at once, so no on-demand rotation is ever in progress and
        OnDemandRotationStartDate is never present.)"""
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:GetKeyRotationStatus", key, request_alias=alias)
        engine.require_state("GetKeyRotationStatus", key)
        engine.require_rotatable(key, on_demand=True)
        enabled = key.rotation_enabled and key.state not in ("PendingDeletion", "PendingReplicaDeletion")
        response: dict[str, Any] = {"KeyRotationEnabled": enabled, "KeyId": key.arn}
        if enabled:
            response["RotationPeriodInDays"] = key.rotation_period_days
            response["NextRotationDate"] = key.next_rotation
        return response

    def rotate_key_on_demand(self, **params: Any) -> dict[str, Any]:
        return self._run("RotateKeyOnDemand", params, self._rotate_key_on_demand)

    def _rotate_key_on_demand(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:RotateKeyOnDemand", key, request_alias=alias)
        engine.require_state("RotateKeyOnDemand", key)
        engine.require_rotatable(key, on_demand=True)
        engine.require_not_replica("RotateKeyOnDemand", key)
        if engine.on_demand_rotations(key) >= store.on_demand_rotation_limit:
            raise KmsFailure(
                "LimitExceededException",
                f"{key.arn} has reached the limit of {store.on_demand_rotation_limit} on-demand rotations.",
            )
        if key.origin == "EXTERNAL":
            rotated = self._rotate_imported(key)
        else:
            rotated = engine.rotate(key, store.drbg, self._now(), "ON_DEMAND")
        store.keys[key.key_id] = rotated
        self._sync_replicas(rotated)
        return {"KeyId": key.arn}

    def _rotate_imported(self, key: KmsKey) -> KmsKey:
        """API Reference, "RotateKeyOnDemand": for imported material, "you must have already imported
        new key material and that key material's state should be PENDING_ROTATION"; for multi-Region
        keys it must first be imported into every replica. The error for either missing step is not
        documented: KMSInvalidStateException is an assumption."""
        pending = next((m for m in key.materials if m.pending_rotation), None)
        if pending is None:
            raise KmsFailure(
                "KMSInvalidStateException",
                f"{key.arn} has no imported key material in PENDING_ROTATION state.",
            )
        if self._material_state(key, pending) != "PENDING_ROTATION":
            raise KmsFailure(
                "KMSInvalidStateException",
                f"Key material {pending.material_id} is not yet imported into every replica of {key.arn}.",
            )
        current = replace(pending, pending_rotation=False, rotation_type="ON_DEMAND", created=self._now())
        others = tuple(m for m in key.materials if m.material_id != pending.material_id)
        return key.with_changes(materials=(*others, current))  # the current material is the last one

    def _material_state(self, key: KmsKey, material: KeyMaterial) -> str:
        """RotationsListEntry KeyMaterialState (API Reference): CURRENT, NON_CURRENT, PENDING_ROTATION,
        or PENDING_MULTI_REGION_IMPORT_AND_ROTATION for new material of a multi-Region primary key not
        yet imported into all of its replicas."""
        if material.pending_rotation:
            if key.multi_region_type == "PRIMARY":
                for related in self._related_keys(key):
                    if related.multi_region_type != "REPLICA":
                        continue
                    copy_ = related.material(material.material_id)
                    if copy_ is None or copy_.secret is None:
                        return "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
            return "PENDING_ROTATION"
        return "CURRENT" if material is key._current_or_none() else "NON_CURRENT"

    def list_key_rotations(self, **params: Any) -> dict[str, Any]:
        return self._run("ListKeyRotations", params, self._list_key_rotations)

    def _list_key_rotations(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:ListKeyRotations", key, request_alias=alias)
        engine.require_state("ListKeyRotations", key)
        engine.require_rotatable(key, on_demand=True)
        # API Reference, "ListKeyRotations", IncludeKeyMaterial: ROTATIONS_ONLY (the default) lists
        # the materials created by rotation; ALL_KEY_MATERIAL adds "the first key material and any
        # imported key material pending rotation".
        everything = p.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
        entries = [
            self._rotation_entry(key, m)
            for m in key.materials
            if everything or (m.rotation_type is not None and not m.pending_rotation)
        ]
        return _page(entries, "Rotations", p)

    def _rotation_entry(self, key: KmsKey, material: KeyMaterial) -> dict[str, Any]:
        """One RotationsListEntry (API Reference): RotationDate and RotationType are "not present for
        the first key material or an imported key material in PENDING_ROTATION state"; the import
        fields are "only present for symmetric encryption KMS keys with EXTERNAL origin"."""
        entry: dict[str, Any] = {
            "KeyId": key.arn,
            "KeyMaterialId": material.material_id,
            "KeyMaterialState": self._material_state(key, material),
        }
        if material.rotation_type is not None and not material.pending_rotation:
            entry["RotationDate"] = material.created
            entry["RotationType"] = material.rotation_type
        if key.origin == "EXTERNAL":
            if material.description is not None:
                entry["KeyMaterialDescription"] = material.description
            entry["ImportState"] = material.import_state or "PENDING_IMPORT"
            if material.expiration_model is not None:
                entry["ExpirationModel"] = material.expiration_model
            if material.valid_to is not None:
                entry["ValidTo"] = material.valid_to
        return entry

    # -- encryption -----------------------------------------------------------------------------------

    def encrypt(self, **params: Any) -> dict[str, Any]:
        return self._run("Encrypt", params, self._encrypt)

    def _encrypt(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        context = p.get("EncryptionContext")
        algorithm = p.get("EncryptionAlgorithm") or SYMMETRIC_DEFAULT
        extra, frozen_extra = authorize.encryption_request_keys(context, algorithm)
        self._authorize(
            "kms:Encrypt",
            key,
            extra,
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
            frozen_extra=frozen_extra,
        )
        if key.state != "Enabled":  # Enabled allows it; any other state is looked up
            engine.require_state("Encrypt", key)
        ciphertext, algorithm, _ = engine.encrypt(key, p["Plaintext"], context, algorithm, self._store.drbg)
        if "DryRun" in p:
            self._dry_run(p)
        return {"CiphertextBlob": ciphertext, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}

    def _ciphertext_key(self, ciphertext: bytes, key_id: str | None, algorithm: str | None) -> KmsKey:
        """The key that must decrypt ``ciphertext``: ``key_id``'s, or, for a symmetric ciphertext
        without one, the key its blob names (API Reference, "Decrypt", KeyId)."""
        if key_id is not None:
            key, _ = self._resolve(key_id)
            if key.spec == SYMMETRIC_DEFAULT:
                named = engine.symmetric_blob_key_arn(ciphertext)
                if not engine.names_key(key, named):
                    raise KmsFailure("IncorrectKeyException", engine.INCORRECT_KEY)
            return key
        if algorithm not in (None, SYMMETRIC_DEFAULT):
            # An asymmetric ciphertext carries no key id: KeyId is required (API Reference, "Decrypt").
            raise KmsFailure("ValidationException", "KeyId is required for asymmetric ciphertexts.")
        named = engine.symmetric_blob_key_arn(ciphertext)
        cache = self._cache
        if cache.generation != self._store.generation:
            cache = self._fresh_cache()
        key = cache.blob_keys.get(named)
        if key is None:  # the keys are fixed within one store generation, so the answer is too
            key = cache.blob_keys[named] = self._blob_key(named)
        return key

    def _blob_key(self, named: str) -> KmsKey:
        """The key that decrypts a symmetric ciphertext naming the key ARN ``named``."""
        found = _KEY_ARN.match(named)
        if not found or found["account"] != self._store.account:
            raise KmsFailure("InvalidCiphertextException", "")
        if found["region"] != self._store.region:
            # A multi-Region key's ciphertext decrypts under its related key in this Region (KMS
            # Developer Guide, "Multi-Region keys in AWS KMS"); any other key's does not.
            related = self._store.keys.get(found["id"])
            if related is None or not engine.names_key(related, named):
                raise KmsFailure("InvalidCiphertextException", "")
            return related
        key = self._store.keys.get(found["id"])
        if key is None:
            raise KmsFailure("NotFoundException", KEY_NOT_FOUND.format(arn=named))
        if key.arn != named:  # same key id under another partition: not this key's ciphertext
            raise KmsFailure("InvalidCiphertextException", "")
        return key

    def decrypt(self, **params: Any) -> dict[str, Any]:
        return self._run("Decrypt", params, self._decrypt)

    def _decrypt(self, p: dict[str, Any]) -> dict[str, Any]:
        if "DryRunModifiers" in p and p.get("DryRun") and "IGNORE_CIPHERTEXT" in (p["DryRunModifiers"] or ()):
            return self._decrypt_ignoring_ciphertext(p)
        ciphertext = p.get("CiphertextBlob")
        if ciphertext is None:
            raise KmsFailure("ValidationException", "CiphertextBlob is required.")
        context = p.get("EncryptionContext")
        algorithm = p.get("EncryptionAlgorithm")
        key = self._ciphertext_key(ciphertext, p.get("KeyId"), algorithm)
        algorithm = algorithm or SYMMETRIC_DEFAULT
        extra, frozen_extra = authorize.encryption_request_keys(context, algorithm)
        self._authorize(
            "kms:Decrypt",
            key,
            extra,
            grant_tokens=p.get("GrantTokens") or (),
            frozen_extra=frozen_extra,
        )
        if key.state != "Enabled":  # Enabled allows it; any other state is looked up
            engine.require_state("Decrypt", key)
        plaintext, algorithm, material_id = engine.decrypt(key, ciphertext, context, algorithm)
        if "DryRun" in p:
            self._dry_run(p)
        response: dict[str, Any] = {
            "KeyId": key.arn,
            "Plaintext": plaintext,
            "EncryptionAlgorithm": algorithm,
        }
        if material_id is not None:
            response["KeyMaterialId"] = material_id
        return response

    def _decrypt_ignoring_ciphertext(self, p: dict[str, Any]) -> dict[str, Any]:
        """A DryRun with DryRunModifiers IGNORE_CIPHERTEXT (API Reference, "Decrypt"): authorization,
        key state and usage are checked against KeyId; the ciphertext is not read."""
        if not p.get("KeyId"):
            raise KmsFailure(
                "ValidationException", "KeyId is required with DryRunModifiers IGNORE_CIPHERTEXT."
            )
        key, _ = self._resolve(p["KeyId"])
        algorithm = p.get("EncryptionAlgorithm") or SYMMETRIC_DEFAULT
        extra, frozen_extra = authorize.encryption_request_keys(p.get("EncryptionContext"), algorithm)
        self._authorize(
            "kms:Decrypt", key, extra, grant_tokens=p.get("GrantTokens") or (), frozen_extra=frozen_extra
        )
        engine.require_state("Decrypt", key)
        engine.require_usage("Decrypt", key, ENCRYPT_DECRYPT)
        raise KmsFailure("DryRunOperationException", DRY_RUN_MESSAGE)

    def re_encrypt(self, **params: Any) -> dict[str, Any]:
        return self._run("ReEncrypt", params, self._re_encrypt)

    def _re_encrypt(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        ciphertext = p.get("CiphertextBlob")
        if ciphertext is None:
            raise KmsFailure("ValidationException", "CiphertextBlob is required.")
        source = self._ciphertext_key(ciphertext, p.get("SourceKeyId"), p.get("SourceEncryptionAlgorithm"))
        destination, destination_alias = self._resolve(p["DestinationKeyId"])
        source_context = p.get("SourceEncryptionContext")
        destination_context = p.get("DestinationEncryptionContext")
        source_algorithm = p.get("SourceEncryptionAlgorithm") or SYMMETRIC_DEFAULT
        destination_algorithm = p.get("DestinationEncryptionAlgorithm") or SYMMETRIC_DEFAULT
        same = "true" if source.key_id == destination.key_id else "false"
        # KMS API Reference, "ReEncrypt", "Required permissions": kms:ReEncryptFrom on the source key
        # and kms:ReEncryptTo on the destination key. Each authorization sees the encryption context
        # of its own side (an assumption: the docs do not say which context each one sees).
        tokens = p.get("GrantTokens") or ()
        self._authorize_all(
            [
                (
                    self._inputs(source),
                    self._request(
                        "kms:ReEncryptFrom",
                        source,
                        {
                            **authorize.encryption_context_keys(source_context),
                            "kms:EncryptionAlgorithm": source_algorithm,
                            "kms:ReEncryptOnSameKey": same,
                        },
                        grant_tokens=tokens,
                    ),
                ),
                (
                    self._inputs(destination),
                    self._request(
                        "kms:ReEncryptTo",
                        destination,
                        {
                            **authorize.encryption_context_keys(destination_context),
                            "kms:EncryptionAlgorithm": destination_algorithm,
                            "kms:ReEncryptOnSameKey": same,
                        },
                        request_alias=destination_alias,
                        grant_tokens=tokens,
                    ),
                ),
            ]
        )
        engine.require_state("ReEncrypt", source)
        engine.require_state("ReEncrypt", destination)
        plaintext, source_algorithm, source_material = engine.decrypt(
            source, ciphertext, source_context, source_algorithm, "ReEncrypt"
        )
        blob, destination_algorithm, destination_material = engine.encrypt(
            destination, plaintext, destination_context, destination_algorithm, store.drbg, "ReEncrypt"
        )
        self._dry_run(p)
        response: dict[str, Any] = {
            "CiphertextBlob": blob,
            "SourceKeyId": source.arn,
            "KeyId": destination.arn,
            "SourceEncryptionAlgorithm": source_algorithm,
            "DestinationEncryptionAlgorithm": destination_algorithm,
        }
        if source_material is not None:
            response["SourceKeyMaterialId"] = source_material
        if destination_material is not None:
            response["DestinationKeyMaterialId"] = destination_material
        return response

    def generate_data_key(self, **params: Any) -> dict[str, Any]:
        return self._run(
            "GenerateDataKey", params, lambda p: self._generate_data_key("GenerateDataKey", p, True)
        )

    def generate_data_key_without_plaintext(self, **params: Any) -> dict[str, Any]:
        return self._run(
            "GenerateDataKeyWithoutPlaintext",
            params,
            lambda p: self._generate_data_key("GenerateDataKeyWithoutPlaintext", p, False),
        )

    def _generate_data_key(self, operation: str, p: dict[str, Any], with_plaintext: bool) -> dict[str, Any]:
        has_spec, has_bytes = p.get("KeySpec") is not None, p.get("NumberOfBytes") is not None
        if has_spec == has_bytes:
            # API Reference, "GenerateDataKey": "Use either the KeySpec or NumberOfBytes parameters
            # (but not both)".
            raise KmsFailure("ValidationException", "Specify either KeySpec or NumberOfBytes, but not both.")
        length = DATA_KEY_BYTES[p["KeySpec"]] if has_spec else int(p["NumberOfBytes"])
        key, alias = self._resolve(p["KeyId"])
        context = p.get("EncryptionContext")
        self._authorize(
            f"kms:{operation}",
            key,
            {**authorize.encryption_context_keys(context), "kms:EncryptionAlgorithm": SYMMETRIC_DEFAULT},
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
        )
        engine.require_state(operation, key)
        engine.require_symmetric_encryption(operation, key)
        self._dry_run(p)
        data_key = self._store.drbg.random_bytes(length, b"data-key")
        blob, _, material_id = engine.encrypt(
            key, data_key, context, SYMMETRIC_DEFAULT, self._store.drbg, operation
        )
        response: dict[str, Any] = {"CiphertextBlob": blob, "KeyId": key.arn, "KeyMaterialId": material_id}
        if with_plaintext:
            response["Plaintext"] = data_key
        return response

    # -- signatures and MACs --------------------------------------------------------------------------

    def sign(self, **params: Any) -> dict[str, Any]:
        return self._run("Sign", params, self._sign)

    def _signing_call(self, operation: str, p: dict[str, Any]) -> tuple[Any, str, str]:
        """Sign and Verify alike: the key, authorized with the signing context keys, in a usable
        state; and the message type and algorithm asked for."""
        key, alias = self._resolve(p["KeyId"])
        message_type = p.get("MessageType") or "RAW"
        algorithm = p["SigningAlgorithm"]
        self._authorize(
            f"kms:{operation}",
            key,
            {"kms:SigningAlgorithm": algorithm, "kms:MessageType": message_type},
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
        )
        engine.require_state(operation, key)
        return key, message_type, algorithm

    def _sign(self, p: dict[str, Any]) -> dict[str, Any]:
        key, message_type, algorithm = self._signing_call("Sign", p)
        signature = engine.sign(key, p["Message"], message_type, algorithm)
        self._dry_run(p)
        return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm}

    def verify(self, **params: Any) -> dict[str, Any]:
        return self._run("Verify", params, self._verify)

    def _verify(self, p: dict[str, Any]) -> dict[str, Any]:
        key, message_type, algorithm = self._signing_call("Verify", p)
        engine.verify(key, p["Message"], message_type, p["Signature"], algorithm)
        self._dry_run(p)
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}

    def generate_mac(self, **params: Any) -> dict[str, Any]:
        return self._run("GenerateMac", params, self._generate_mac)

    def _mac_call(self, operation: str, p: dict[str, Any]) -> tuple[Any, str]:
        """GenerateMac and VerifyMac alike: the key, authorized with kms:MacAlgorithm, in a usable
        state; and the algorithm asked for."""
        key, alias = self._resolve(p["KeyId"])
        algorithm = p["MacAlgorithm"]
        self._authorize(
            f"kms:{operation}",
            key,
            {"kms:MacAlgorithm": algorithm},
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
        )
        engine.require_state(operation, key)
        return key, algorithm

    def _generate_mac(self, p: dict[str, Any]) -> dict[str, Any]:
        key, algorithm = self._mac_call("GenerateMac", p)
        mac = engine.generate_mac(key, p["Message"], algorithm)
        self._dry_run(p)
        return {"Mac": mac, "MacAlgorithm": algorithm, "KeyId": key.arn}

    def verify_mac(self, **params: Any) -> dict[str, Any]:
        return self._run("VerifyMac", params, self._verify_mac)

    def _verify_mac(self, p: dict[str, Any]) -> dict[str, Any]:
        key, algorithm = self._mac_call("VerifyMac", p)
        engine.verify_mac(key, p["Message"], p["Mac"], algorithm)
        self._dry_run(p)
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": algorithm}

    def get_public_key(self, **params: Any) -> dict[str, Any]:
        return self._run("GetPublicKey", params, self._get_public_key)

    def _get_public_key(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:GetPublicKey", key, request_alias=alias, grant_tokens=p.get("GrantTokens") or ())
        engine.require_state("GetPublicKey", key)
        return {
            "KeyId": key.arn,
            "PublicKey": engine.public_key(key),
            "CustomerMasterKeySpec": key.spec,
            "KeySpec": key.spec,
            "KeyUsage": key.usage,
            **key.info.algorithms_for(key.usage),
        }

    def generate_random(self, **params: Any) -> dict[str, Any]:
        return self._run("GenerateRandom", params, self._generate_random)

    def _generate_random(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("CustomKeyStoreId") or p.get("Recipient"):
            raise KmsFailure(
                "UnsupportedOperationException", "kmsguard does not emulate custom key stores or Recipient."
            )
        if p.get("NumberOfBytes") is None:
            # API Reference, "GenerateRandom", NumberOfBytes: the length (1 to 1024) is required.
            raise KmsFailure("ValidationException", "NumberOfBytes is required.")
        self._authorize("kms:GenerateRandom", None)
        return {"Plaintext": self._store.drbg.random_bytes(int(p["NumberOfBytes"]), b"random")}

    # -- aliases --------------------------------------------------------------------------------------

    def _alias_request(self, action: str, alias: str) -> tuple[AuthzInputs, Request]:
        return self._inputs(None), self._request(action, None, resource=self._alias_arn(alias))

    @staticmethod
    def _check_alias_name(name: str) -> None:
        # API Reference, "CreateAlias", AliasName: begins with alias/; "alias/aws/" is reserved for
        # AWS managed keys.
        if not name.startswith("alias/") or name.startswith("alias/aws/"):
            raise KmsFailure("InvalidAliasNameException", f"Alias name {name} is not valid.")

    def _target_key(self, target: str) -> KmsKey:
        # API Reference, "CreateAlias", TargetKeyId: a key id or key ARN, not an alias.
        if target.startswith("alias/") or _ALIAS_ARN.match(target):
            raise KmsFailure("ValidationException", "TargetKeyId must be a key ID or key ARN, not an alias.")
        key, _ = self._resolve(target)
        return key

    def create_alias(self, **params: Any) -> dict[str, Any]:
        return self._run("CreateAlias", params, self._create_alias)

    def _create_alias(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        name = p["AliasName"]
        self._check_alias_name(name)
        key = self._target_key(p["TargetKeyId"])
        # KMS Developer Guide, "Controlling access to aliases": kms:CreateAlias on the alias (IAM
        # policy) and on the key (key policy).
        self._authorize_all(
            [
                self._alias_request("kms:CreateAlias", name),
                (self._inputs(key), self._request("kms:CreateAlias", key)),
            ]
        )
        if name in store.aliases:
            raise KmsFailure(
                "AlreadyExistsException", f"An alias with the name {self._alias_arn(name)} already exists"
            )
        engine.require_state("CreateAlias", key)
        now = self._now()
        store.aliases[name] = AliasRecord(name, key.key_id, now, now)
        return {}

    def update_alias(self, **params: Any) -> dict[str, Any]:
        return self._run("UpdateAlias", params, self._update_alias)

    def _update_alias(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        name = p["AliasName"]
        self._check_alias_name(name)
        record = store.aliases.get(name)
        if record is None:
            raise KmsFailure("NotFoundException", ALIAS_NOT_FOUND.format(arn=self._alias_arn(name)))
        current = self._key_by_id(record.target_key_id)
        new = self._target_key(p["TargetKeyId"])
        # "Controlling access to aliases": kms:UpdateAlias on the alias, the current key and the new key.
        self._authorize_all(
            [
                self._alias_request("kms:UpdateAlias", name),
                (self._inputs(current), self._request("kms:UpdateAlias", current)),
                (self._inputs(new), self._request("kms:UpdateAlias", new)),
            ]
        )
        # Key state table [10]: fails only when the new key is pending deletion.
        engine.require_state("CreateAlias", new)
        if new.usage != current.usage or new.info.symmetric != current.info.symmetric:
            # API Reference, "UpdateAlias": the current and new key must be of the same type and usage.
            raise KmsFailure("ValidationException", "The new key must have the same key type and key usage.")
        store.aliases[name] = AliasRecord(name, new.key_id, record.created, self._now())
        return {}

    def delete_alias(self, **params: Any) -> dict[str, Any]:
        return self._run("DeleteAlias", params, self._delete_alias)

    def _delete_alias(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        name = p["AliasName"]
        record = store.aliases.get(name)
        if record is None:
            raise KmsFailure("NotFoundException", ALIAS_NOT_FOUND.format(arn=self._alias_arn(name)))
        key = self._key_by_id(record.target_key_id)
        self._authorize_all(
            [
                self._alias_request("kms:DeleteAlias", name),
                (self._inputs(key), self._request("kms:DeleteAlias", key)),
            ]
        )
        del store.aliases[name]
        return {}

    def list_aliases(self, **params: Any) -> dict[str, Any]:
        return self._run("ListAliases", params, self._list_aliases)

    def _list_aliases(self, p: dict[str, Any]) -> dict[str, Any]:
        only: KmsKey | None = None
        if p.get("KeyId"):
            only, _ = self._resolve(p["KeyId"])
        self._authorize("kms:ListAliases", None)
        entries = [
            {
                "AliasName": record.name,
                "AliasArn": self._alias_arn(record.name),
                "TargetKeyId": record.target_key_id,
                "CreationDate": record.created,
                "LastUpdatedDate": record.updated,
            }
            for record in sorted(self._store.aliases.values(), key=lambda r: r.name)
            if only is None or record.target_key_id == only.key_id
        ]
        return _page(entries, "Aliases", p)

    # -- key policies -----------------------------------------------------------------------------------

    def get_key_policy(self, **params: Any) -> dict[str, Any]:
        return self._run("GetKeyPolicy", params, self._get_key_policy)

    def _get_key_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:GetKeyPolicy", key, request_alias=alias)
        name = p.get("PolicyName") or "default"
        if name != "default":
            # API Reference, "GetKeyPolicy", PolicyName: "The only valid name is default."
            raise KmsFailure("NotFoundException", f"Policy {name} is not found for key {key.arn}")
        return {"Policy": key.policy_text, "PolicyName": "default"}

    def put_key_policy(self, **params: Any) -> dict[str, Any]:
        return self._run("PutKeyPolicy", params, self._put_key_policy)

    def _put_key_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        bypass = bool(p.get("BypassPolicyLockoutSafetyCheck"))
        self._authorize(
            "kms:PutKeyPolicy",
            key,
            {"kms:BypassPolicyLockoutSafetyCheck": "true" if bypass else "false"},
            request_alias=alias,
        )
        if (p.get("PolicyName") or "default") != "default":
            raise KmsFailure("NotFoundException", f"Policy {p['PolicyName']} is not found for key {key.arn}")
        policy = self._checked_policy(p["Policy"], key.arn, bypass, check_resource=True)
        self._store.keys[key.key_id] = key.with_changes(policy_text=p["Policy"], policy=policy)
        return {}

    # -- grants -----------------------------------------------------------------------------------------

    def create_grant(self, **params: Any) -> dict[str, Any]:
        return self._run("CreateGrant", params, self._create_grant)

    def _create_grant(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        key, alias = self._resolve(p["KeyId"])
        grantee = p.get("GranteePrincipal") or p.get("GranteeServicePrincipal")
        if not grantee:
            raise KmsFailure(
                "ValidationException", "GranteePrincipal or GranteeServicePrincipal is required."
            )
        retiring = p.get("RetiringPrincipal") or p.get("RetiringServicePrincipal")
        operations = tuple(p["Operations"])
        raw_constraints = p.get("Constraints") or None
        constraints = None
        if raw_constraints:
            constraints = GrantConstraints(
                encryption_context_equals=raw_constraints.get("EncryptionContextEquals"),
                encryption_context_subset=raw_constraints.get("EncryptionContextSubset"),
            )
        grant_id = engine.new_hex_id(store.drbg, b"grant-id")
        token = engine.new_hex_id(store.drbg, b"grant-token")
        grant = Grant(
            address=grant_id,
            key=key.arn,
            grantee=grantee,
            operations=operations,
            source=Source.ACCOUNT,
            constraints=constraints,
            retiring_principal=retiring,
            name=p.get("Name"),
            grant_tokens=(token,),
        )
        request_context: dict[str, ContextValue] = {
            "kms:GrantOperations": operations,
            "kms:GranteePrincipal": grantee,
            "kms:GrantIsForAWSResource": "false",
        }
        if retiring:
            request_context["kms:RetiringPrincipal"] = retiring
        if raw_constraints:
            request_context["kms:GrantConstraintType"] = tuple(
                c for c in ("EncryptionContextEquals", "EncryptionContextSubset") if raw_constraints.get(c)
            )
        self._authorize(
            "kms:CreateGrant",
            key,
            request_context,
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
            new_grant=grant,
        )
        engine.require_state("CreateGrant", key)
        allowed = grant_operations_for(key.spec, key.usage)
        unfit = [operation for operation in operations if operation not in allowed]
        if unfit:
            # API Reference, "CreateGrant", Operations: "the operation must be supported on the KMS
            # key ... If you try, KMS returns a ValidationError exception."
            raise KmsFailure(
                "ValidationException",
                f"Grant operations {', '.join(unfit)} are not valid for a {key.spec} key with key usage "
                f"{key.usage}.",
            )
        self._dry_run(p)
        same = self._same_named_grant(key, grant)
        if same is not None:
            # API Reference, "CreateGrant", Name: a retry with the same name and parameters returns the
            # original GrantId; "the returned grant token is unique with every CreateGrant request ...
            # All grant tokens for the same grant ID can be used interchangeably."
            tokens = (*same.grant.grant_tokens, token)
            store.grants[same.grant_id] = replace(same, grant=replace(same.grant, grant_tokens=tokens))
            return {"GrantToken": token, "GrantId": same.grant_id}
        store.grants[grant_id] = GrantRecord(
            grant=grant,
            grant_id=grant_id,
            token=token,
            key_id=key.key_id,
            created=self._now(),
            issuing_account=f"arn:{store.partition}:iam::{self._view.account or store.account}:root",
            operations=operations,
            constraints=raw_constraints,
        )
        return {"GrantToken": token, "GrantId": grant_id}

    def _same_named_grant(self, key: KmsKey, grant: Grant) -> GrantRecord | None:
        if not grant.name:
            return None
        for record in self._grants_of(key):
            other = record.grant
            if (
                other.name == grant.name
                and other.grantee == grant.grantee
                and tuple(other.operations) == tuple(grant.operations)
                and other.retiring_principal == grant.retiring_principal
                and other.constraints == grant.constraints
            ):
                return record
        return None

    def list_grants(self, **params: Any) -> dict[str, Any]:
        return self._run("ListGrants", params, self._list_grants)

    def _list_grants(self, p: dict[str, Any]) -> dict[str, Any]:
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:ListGrants", key, request_alias=alias)
        entries = []
        for record in self._grants_of(key):
            if p.get("GrantId") and record.grant_id != p["GrantId"]:
                continue
            if p.get("GranteePrincipal") and record.grant.grantee != p["GranteePrincipal"]:
                continue
            entry: dict[str, Any] = {
                "KeyId": key.arn,
                "GrantId": record.grant_id,
                "CreationDate": record.created,
                "GranteePrincipal": record.grant.grantee,
                "IssuingAccount": record.issuing_account,
                "Operations": list(record.operations),
            }
            if record.grant.name:
                entry["Name"] = record.grant.name
            if record.grant.retiring_principal:
                entry["RetiringPrincipal"] = record.grant.retiring_principal
            if record.constraints:
                entry["Constraints"] = dict(record.constraints)
            entries.append(entry)
        return _page(entries, "Grants", p)

    def retire_grant(self, **params: Any) -> dict[str, Any]:
        return self._run("RetireGrant", params, self._retire_grant)

    def _retire_grant(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        record: GrantRecord | None = None
        if p.get("GrantToken"):
            record = next((r for r in store.grants.values() if p["GrantToken"] in r.grant.grant_tokens), None)
            if record is None:
                raise KmsFailure("InvalidGrantTokenException", "The grant token is not valid.")
        elif p.get("KeyId") and p.get("GrantId"):
            key, _ = self._resolve(p["KeyId"])
            record = store.grants.get(p["GrantId"])
            if record is None or record.key_id != key.key_id:
                raise KmsFailure("InvalidGrantIdException", f"Grant ID {p['GrantId']} is not valid.")
        else:
            raise KmsFailure("ValidationException", "Specify GrantToken, or KeyId and GrantId.")
        key = self._key_by_id(record.key_id)
        # The grant being retired is what allows its retiring principal (and grantee, when the grant
        # lists RetireGrant) to retire it: authorized against the key policy and that grant.
        self._authorize_all(
            [
                (
                    authorize.build_inputs(self._view, self._inputs(key).key_policy, [record.grant]),
                    self._request("kms:RetireGrant", key, grant_tokens=(record.token,)),
                )
            ]
        )
        self._dry_run(p)
        del store.grants[record.grant_id]
        return {}

    def revoke_grant(self, **params: Any) -> dict[str, Any]:
        return self._run("RevokeGrant", params, self._revoke_grant)

    def _revoke_grant(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        key, alias = self._resolve(p["KeyId"])
        self._authorize("kms:RevokeGrant", key, request_alias=alias)
        record = store.grants.get(p["GrantId"])
        if record is None or record.key_id != key.key_id:
            raise KmsFailure("NotFoundException", f"Grant ID {p['GrantId']} not found for key {key.arn}")
        self._dry_run(p)
        del store.grants[record.grant_id]
        return {}

    # -- key agreement and data key pairs ---------------------------------------------------------------

    def derive_shared_secret(self, **params: Any) -> dict[str, Any]:
        return self._run("DeriveSharedSecret", params, self._derive_shared_secret)

    def _derive_shared_secret(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("Recipient"):
            raise KmsFailure("UnsupportedOperationException", "kmsguard does not emulate Recipient.")
        key, alias = self._resolve(p["KeyId"])
        algorithm = p["KeyAgreementAlgorithm"]
        self._authorize(
            "kms:DeriveSharedSecret",
            key,
            {"kms:KeyAgreementAlgorithm": algorithm},
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
        )
        engine.require_state("DeriveSharedSecret", key)
        secret = engine.derive_shared_secret(key, algorithm, p["PublicKey"])
        self._dry_run(p)
        return {
            "KeyId": key.arn,
            "SharedSecret": secret,
            "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": key.origin,
        }

    def generate_data_key_pair(self, **params: Any) -> dict[str, Any]:
        return self._run(
            "GenerateDataKeyPair",
            params,
            lambda p: self._generate_data_key_pair("GenerateDataKeyPair", p, True),
        )

    def generate_data_key_pair_without_plaintext(self, **params: Any) -> dict[str, Any]:
        return self._run(
            "GenerateDataKeyPairWithoutPlaintext",
            params,
            lambda p: self._generate_data_key_pair("GenerateDataKeyPairWithoutPlaintext", p, False),
        )

    def _generate_data_key_pair(
        self, operation: str, p: dict[str, Any], with_plaintext: bool
    ) -> dict[str, Any]:
        if p.get("Recipient"):
            raise KmsFailure("UnsupportedOperationException", "kmsguard does not emulate Recipient.")
        key, alias = self._resolve(p["KeyId"])
        spec = p["KeyPairSpec"]
        context = p.get("EncryptionContext")
        self._authorize(
            f"kms:{operation}",
            key,
            {
                **authorize.encryption_context_keys(context),
                "kms:EncryptionAlgorithm": SYMMETRIC_DEFAULT,
                "kms:DataKeyPairSpec": spec,
            },
            request_alias=alias,
            grant_tokens=p.get("GrantTokens") or (),
        )
        engine.require_state(operation, key)
        # API Reference, "GenerateDataKeyPair": "you must specify a symmetric encryption KMS key to
        # encrypt the private key ... You cannot use an asymmetric KMS key".
        engine.require_symmetric_encryption(operation, key)
        self._dry_run(p)
        private_der, public_der = engine.data_key_pair(spec, self._store.drbg)
        blob, _, material_id = engine.encrypt(
            key, private_der, context, SYMMETRIC_DEFAULT, self._store.drbg, operation
        )
        response: dict[str, Any] = {
            "PrivateKeyCiphertextBlob": blob,
            "PublicKey": public_der,
            "KeyId": key.arn,
            "KeyPairSpec": spec,
            "KeyMaterialId": material_id,
        }
        if with_plaintext:
            response["PrivateKeyPlaintext"] = private_der
        return response

    # -- imported key material --------------------------------------------------------------------------

    @staticmethod
    def _require_external(key: KmsKey, operation: str) -> None:
        # API Reference, "GetParametersForImport" / "ImportKeyMaterial": the key's "Origin must be
        # EXTERNAL".
        if key.origin != "EXTERNAL":
            raise KmsFailure(
                "UnsupportedOperationException",
                f"{key.arn} origin is {key.origin} which is not valid for {operation}.",
            )

    def get_parameters_for_import(self, **params: Any) -> dict[str, Any]:
        return self._run("GetParametersForImport", params, self._get_parameters_for_import)

    def _get_parameters_for_import(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        key, _ = self._resolve(p["KeyId"])
        algorithm, wrapping_spec = p["WrappingAlgorithm"], p["WrappingKeySpec"]
        self._authorize(
            "kms:GetParametersForImport",
            key,
            {"kms:WrappingAlgorithm": algorithm, "kms:WrappingKeySpec": wrapping_spec},
        )
        self._require_external(key, "GetParametersForImport")
        engine.require_state("GetParametersForImport", key)
        if algorithm not in WRAPPING_ALGORITHMS or wrapping_spec not in WRAPPING_KEY_SPECS:
            # "Select a wrapping algorithm": RSAES_PKCS1_V1_5 is no longer supported; SM2 wrapping is
            # China-only and not emulated.
            raise KmsFailure(
                "UnsupportedOperationException",
                f"kmsguard does not emulate WrappingAlgorithm {algorithm} with WrappingKeySpec "
                f"{wrapping_spec}.",
            )
        if key.info.family == "RSA" and WRAPPING_ALGORITHMS[algorithm][0] == "OAEP":
            # "Select a wrapping algorithm": RSAES_OAEP_* wrap "all types of key material, except RSA
            # key material (private key)" (an RSA private key is longer than one OAEP block). The
            # error code is an assumption.
            raise KmsFailure(
                "ValidationException",
                f"WrappingAlgorithm {algorithm} cannot wrap {key.spec} key material; use an RSA_AES "
                "wrapping algorithm.",
            )
        wrapping_key = primitives.generate_rsa(WRAPPING_KEY_SPECS[wrapping_spec], store.drbg)
        token = store.drbg.random_bytes(64, b"import-token")
        # API Reference, "GetParametersForImport": "Each public key and import token set is valid for
        # 24 hours."
        valid_to = self._now() + IMPORT_PARAMETERS_LIFETIME
        store.import_parameters[token.hex()] = ImportParameters(
            key.key_id, key.arn, algorithm, Secret(wrapping_key), valid_to
        )
        return {
            "KeyId": key.arn,
            "ImportToken": token,
            "PublicKey": primitives.public_key_der(wrapping_key),
            "ParametersValidTo": valid_to,
        }

    def import_key_material(self, **params: Any) -> dict[str, Any]:
        return self._run("ImportKeyMaterial", params, self._import_key_material)

    def _import_key_material(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        key, _ = self._resolve(p["KeyId"])
        model = p.get("ExpirationModel") or "KEY_MATERIAL_EXPIRES"  # API Reference: the default
        valid_to = _as_utc(p.get("ValidTo"))
        context: dict[str, ContextValue] = {"kms:ExpirationModel": model}
        if valid_to is not None:
            context["kms:ValidTo"] = str(int(valid_to.timestamp()))
        self._authorize("kms:ImportKeyMaterial", key, context)
        self._require_external(key, "ImportKeyMaterial")
        engine.require_state("ImportKeyMaterial", key)
        now = self._now()
        # API Reference, "ImportKeyMaterial", ExpirationModel / ValidTo: ValidTo is required with
        # KEY_MATERIAL_EXPIRES and not valid otherwise; a future time at most 365 days away.
        if model == "KEY_MATERIAL_EXPIRES" and valid_to is None:
            raise KmsFailure(
                "ValidationException", "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES."
            )
        if model == "KEY_MATERIAL_DOES_NOT_EXPIRE" and valid_to is not None:
            raise KmsFailure(
                "ValidationException",
                "ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
            )
        if valid_to is not None and not now < valid_to <= now + MAX_IMPORT_VALIDITY:
            raise KmsFailure(
                "ValidationException", "ValidTo must be in the future and at most 365 days away."
            )
        record = store.import_parameters.get(bytes(p["ImportToken"]).hex())
        if record is None or record.key_id != key.key_id:
            raise KmsFailure("InvalidImportTokenException", "The import token is not valid for this KMS key.")
        if record.valid_to <= now:
            raise KmsFailure("ExpiredImportTokenException", "The import token has expired.")
        raw = engine.unwrap_key_material(
            record.wrapping_key, record.wrapping_algorithm, p["EncryptedKeyMaterial"]
        )
        value = engine.imported_material_value(key, record.wrapping_algorithm, raw)
        material = self._imported_material(key, p, value, model, valid_to)
        self._dry_run(p)
        materials = _replace_material(self._material_list(key), material)
        updated = key.with_changes(materials=materials)
        if updated.state == "PendingImport" and updated.all_material_imported:
            # "When this operation is successful, the state of the KMS key changes to Enabled" -- for
            # symmetric keys once "all of the key materials associated with the KMS key" are imported.
            updated = updated.with_changes(state="Enabled")
        store.keys[key.key_id] = updated
        return {"KeyId": key.arn, "KeyMaterialId": material.material_id}

    def _material_list(self, key: KmsKey) -> tuple[KeyMaterial, ...]:
        """The key's material records; a multi-Region replica's follow its primary's (same ids, order
        and rotation states), each with the replica's own import."""
        primary = self._primary_of(key)
        if primary is None or primary is key:
            return key.materials
        mine = {m.material_id: m for m in key.materials}
        return tuple(
            mine.get(m.material_id)
            or replace(m, secret=None, import_state="PENDING_IMPORT", valid_to=None, expiration_model=None)
            for m in primary.materials
        )

    def _primary_of(self, key: KmsKey) -> KmsKey | None:
        if not key.multi_region:
            return None
        return next((k for k in self._related_keys(key) if k.multi_region_type == "PRIMARY"), None)

    def _imported_material(
        self, key: KmsKey, p: Mapping[str, Any], value: object, model: str, valid_to: datetime | None
    ) -> KeyMaterial:
        """The material record an ImportKeyMaterial request makes, after the API Reference's rules
        ("ImportKeyMaterial": ImportType, KeyMaterialId, KeyMaterialDescription)."""
        symmetric = key.spec == SYMMETRIC_DEFAULT
        import_type, requested_id = p.get("ImportType"), p.get("KeyMaterialId")
        description = p.get("KeyMaterialDescription")
        if not symmetric and (import_type or requested_id or description is not None):
            # "This parameter is optional and only usable with symmetric encryption keys." (The error
            # code is an assumption.)
            raise KmsFailure(
                "ValidationException",
                "ImportType, KeyMaterialId and KeyMaterialDescription are only for symmetric "
                "encryption keys.",
            )
        material_id = engine.imported_material_id(key.key_id, value)
        known_list = self._material_list(key)
        # "If no key material has ever been imported into the KMS key, and this parameter is omitted,
        # the parameter defaults to NEW_KEY_MATERIAL. After the first key material is imported, if
        # this parameter is omitted then the parameter defaults to EXISTING_KEY_MATERIAL."
        import_type = import_type or ("EXISTING_KEY_MATERIAL" if known_list else "NEW_KEY_MATERIAL")
        if import_type == "NEW_KEY_MATERIAL" and requested_id:
            raise KmsFailure(
                "ValidationException", "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL."
            )
        if requested_id and requested_id != material_id:
            # "KMS computes the identifier for the key material, matches the computed identifier
            # against the specified key material ID".
            raise KmsFailure(
                "IncorrectKeyMaterialException", f"The key material does not have the id {requested_id}."
            )
        known = next((m for m in known_list if m.material_id == material_id), None)
        imported: dict[str, Any] = {
            "secret": Secret(value),
            "import_state": "IMPORTED",
            "expiration_model": model,
            "valid_to": valid_to,
        }
        if description is not None:
            imported["description"] = description
        if import_type == "EXISTING_KEY_MATERIAL" or key.multi_region_type == "REPLICA":
            if known is None:
                # "you can reimport the same key material"; a replica takes only material imported
                # into its primary ("You cannot directly import new key material into the replica
                # Region keys").
                raise KmsFailure(
                    "IncorrectKeyMaterialException",
                    "The key material is not the key material previously imported into this KMS key.",
                )
            return replace(known, **imported)
        if known is not None:
            # IncorrectKeyMaterialException: "KMS expected new key material but the key material
            # being imported is already associated with the KMS key".
            raise KmsFailure(
                "IncorrectKeyMaterialException", "The key material is already associated with this KMS key."
            )
        if known_list and not symmetric:  # unreachable: the default above is EXISTING for them
            raise KmsFailure("IncorrectKeyMaterialException", "The key material cannot be changed.")
        # The first material is current at once; later new material waits for RotateKeyOnDemand.
        return KeyMaterial(material_id, created=self._now(), pending_rotation=bool(known_list), **imported)

    def delete_imported_key_material(self, **params: Any) -> dict[str, Any]:
        return self._run("DeleteImportedKeyMaterial", params, self._delete_imported_key_material)

    def _delete_imported_key_material(self, p: dict[str, Any]) -> dict[str, Any]:
        key, _ = self._resolve(p["KeyId"])
        self._authorize("kms:DeleteImportedKeyMaterial", key)
        self._require_external(key, "DeleteImportedKeyMaterial")
        engine.require_state("DeleteImportedKeyMaterial", key)
        # API Reference, "DeleteImportedKeyMaterial", KeyMaterialId: "If no KeyMaterialId is
        # specified, KMS deletes the current key material."
        requested = p.get("KeyMaterialId")
        if requested:
            target = key.material(requested)
            if target is None:  # the error code is an assumption
                raise KmsFailure(
                    "NotFoundException", f"Key material {requested} is not associated with {key.arn}."
                )
        else:
            target = key._current_or_none()
        if target is None:  # never imported: nothing to delete, the key stays PendingImport
            return {"KeyId": key.arn}
        self._forget_material(key, target.material_id)
        if key.multi_region_type == "PRIMARY" and target.pending_rotation:
            # "When you delete the key material of a primary Region key that is in PENDING_ROTATION or
            # PENDING_MULTI_REGION_IMPORT_AND_ROTATION state, you'll also be deleting the key materials
            # for the replica Region keys." (Deleting a replica's material changes no other key.)
            for related in self._related_keys(key):
                if related.multi_region_type == "REPLICA" and related.material(target.material_id):
                    self.in_region(related.region)._forget_material(related, target.material_id)
        return {"KeyId": key.arn, "KeyMaterialId": target.material_id}

    def _forget_material(self, key: KmsKey, material_id: str) -> None:
        """Imported material deleted (or expired): its record stays, PENDING_IMPORT, so the same
        material can be reimported; the key becomes PendingImport unless it is PendingDeletion (API
        Reference, "DeleteImportedKeyMaterial": "When the specified KMS key is in the PendingDeletion
        state, this operation does not change the KMS key's state. Otherwise, it changes the KMS
        key's state to PendingImport")."""
        self._store.keys[key.key_id] = _without_material(key, material_id)

    # -- multi-Region keys --------------------------------------------------------------------------------

    def replicate_key(self, **params: Any) -> dict[str, Any]:
        return self._run("ReplicateKey", params, self._replicate_key)

    def _replicate_key(self, p: dict[str, Any]) -> dict[str, Any]:
        store = self._store
        key, _ = self._resolve(p["KeyId"])
        target_region = p["ReplicaRegion"]
        tags = tuple((t["TagKey"], t["TagValue"]) for t in p.get("Tags") or ())
        # API Reference, "ReplicateKey", "Required permissions": kms:ReplicateKey on the primary key
        # (key policy), kms:CreateKey in an IAM policy in the replica Region, and kms:TagResource
        # there when Tags are given.
        replica_view = self.in_region(target_region)
        self._authorize("kms:ReplicateKey", key, {"kms:ReplicaRegion": target_region})
        create_context: dict[str, ContextValue] = {
            "kms:KeySpec": key.spec,
            "kms:KeyUsage": key.usage,
            "kms:KeyOrigin": key.origin,
            "kms:MultiRegion": "true",
            "kms:MultiRegionKeyType": "REPLICA",
        }
        replica_view._authorize("kms:CreateKey", None, create_context)
        if tags:
            replica_view._authorize(
                "kms:TagResource",
                None,
                {**{f"aws:RequestTag/{k}": v for k, v in tags}, "aws:TagKeys": tuple(k for k, _ in tags)},
            )
        if not key.multi_region or key.multi_region_type != "PRIMARY":
            # API Reference, "ReplicateKey": only a multi-Region primary key can be replicated.
            raise KmsFailure("UnsupportedOperationException", f"{key.arn} is not a multi-Region primary key.")
        engine.require_state("ReplicateKey", key)
        if target_region == key.region:
            raise KmsFailure("ValidationException", f"{key.arn} is already in Region {target_region}.")
        target = replica_view._store
        if key.key_id in target.keys:
            # API Reference, "ReplicateKey": "If the Region already includes a replica of the key
            # you're trying to replicate, ReplicateKey returns an AlreadyExistsException error."
            raise KmsFailure(
                "AlreadyExistsException",
                f"{replica_view._key_arn(key.key_id)} already exists in Region {target_region}.",
            )
        arn = replica_view._key_arn(key.key_id)
        bypass = bool(p.get("BypassPolicyLockoutSafetyCheck"))
        # API Reference, "ReplicateKey", Policy: when omitted, the default key policy (not the
        # primary key's); Description and Tags likewise are the replica's own.
        policy_text = p.get("Policy") or default_key_policy(store.account, store.partition)
        policy = replica_view._checked_policy(policy_text, arn, bypass, check_resource=False)
        self._dry_run(p)
        external = key.origin == "EXTERNAL"
        replica = KmsKey(
            key_id=key.key_id,
            arn=arn,
            account=key.account,
            region=target_region,
            spec=key.spec,
            usage=key.usage,
            created=self._now(),
            # Shared properties: key material (none for imported material: "the replica key is
            # created with no key material"), spec, usage, origin, automatic rotation.
            materials=() if external else key.materials,
            policy_text=policy_text,
            policy=policy,
            state="PendingImport" if external else "Enabled",
            description=p.get("Description") or "",
            origin=key.origin,
            rotation_enabled=key.rotation_enabled,
            rotation_period_days=key.rotation_period_days,
            tags=tags,
            multi_region=True,
            multi_region_type="REPLICA",
        )
        target.keys[key.key_id] = replica
        return {
            "ReplicaKeyMetadata": replica_view._metadata(replica),
            "ReplicaPolicy": policy_text,
            "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in tags],
        }

    def update_primary_region(self, **params: Any) -> dict[str, Any]:
        return self._run("UpdatePrimaryRegion", params, self._update_primary_region)

    def _update_primary_region(self, p: dict[str, Any]) -> dict[str, Any]:
        key, _ = self._resolve(p["KeyId"])
        new_region = p["PrimaryRegion"]
        self._authorize("kms:UpdatePrimaryRegion", key, {"kms:PrimaryRegion": new_region})
        if not key.multi_region or key.multi_region_type != "PRIMARY":
            # API Reference, "UpdatePrimaryRegion", KeyId: "Identifies the current primary key".
            raise KmsFailure("UnsupportedOperationException", f"{key.arn} is not a multi-Region primary key.")
        engine.require_state("UpdatePrimaryRegion", key)
        if new_region == key.region:
            return {}
        replica_store = self._store.world.get(new_region)
        replica = replica_store.keys.get(key.key_id) if replica_store is not None else None
        if replica_store is None or replica is None:
            # "The primary Region must already have a replica key."
            raise KmsFailure(
                "NotFoundException", KEY_NOT_FOUND.format(arn=self.in_region(new_region)._key_arn(key.key_id))
            )
        # "Required permissions": kms:UpdatePrimaryRegion on the current primary key and on the
        # replica key, each in its own key policy.
        self.in_region(new_region)._authorize(
            "kms:UpdatePrimaryRegion", replica, {"kms:PrimaryRegion": new_region}
        )
        engine.require_state("UpdatePrimaryRegion", replica)
        self._dry_run(p)
        self._store.keys[key.key_id] = key.with_changes(multi_region_type="REPLICA", next_rotation=None)
        promoted = replica.with_changes(
            multi_region_type="PRIMARY",
            next_rotation=key.next_rotation,
            rotation_enabled=key.rotation_enabled,
            rotation_period_days=key.rotation_period_days,
        )
        replica_store.keys[key.key_id] = promoted
        return {}

    # -- tags and description ------------------------------------------------------------------------------

    def tag_resource(self, **params: Any) -> dict[str, Any]:
        return self._run("TagResource", params, self._tag_resource)

    def _tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        key, _ = self._resolve(p["KeyId"])
        tags = [(t["TagKey"], t["TagValue"]) for t in p["Tags"]]
        self._authorize(
            "kms:TagResource",
            key,
            {**{f"aws:RequestTag/{k}": v for k, v in tags}, "aws:TagKeys": tuple(k for k, _ in tags)},
        )
        engine.require_state("TagResource", key)
        for tag_key, _ in tags:
            if tag_key.lower().startswith("aws:"):
                # API Reference, "TagResource": tag keys beginning "aws:" are reserved -> TagException.
                raise KmsFailure("TagException", f"Tag key {tag_key} is reserved for AWS use.")
        merged = dict(key.tags)
        merged.update(tags)  # "If you specify an existing tag key with a different tag value, KMS
        # replaces the current tag value with the specified one" (API Reference, "TagResource")
        self._store.keys[key.key_id] = key.with_changes(tags=tuple(merged.items()))
        return {}

    def untag_resource(self, **params: Any) -> dict[str, Any]:
        return self._run("UntagResource", params, self._untag_resource)

    def _untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        key, _ = self._resolve(p["KeyId"])
        removed = tuple(p["TagKeys"])
        self._authorize("kms:UntagResource", key, {"aws:TagKeys": removed})
        engine.require_state("UntagResource", key)
        self._store.keys[key.key_id] = key.with_changes(
            tags=tuple((k, v) for k, v in key.tags if k not in removed)
        )
        return {}

    def list_resource_tags(self, **params: Any) -> dict[str, Any]:
        return self._run("ListResourceTags", params, self._list_resource_tags)

    def _list_resource_tags(self, p: dict[str, Any]) -> dict[str, Any]:
        key, _ = self._resolve(p["KeyId"])
        self._authorize("kms:ListResourceTags", key)
        entries = [{"TagKey": k, "TagValue": v} for k, v in sorted(key.tags)]
        return _page(entries, "Tags", p)

    def update_key_description(self, **params: Any) -> dict[str, Any]:
        return self._run("UpdateKeyDescription", params, self._update_key_description)

    def _update_key_description(self, p: dict[str, Any]) -> dict[str, Any]:
        key, _ = self._resolve(p["KeyId"])
        self._authorize("kms:UpdateKeyDescription", key)
        engine.require_state("UpdateKeyDescription", key)
        self._store.keys[key.key_id] = key.with_changes(description=p["Description"])
        return {}


def _page(entries: list[dict[str, Any]], name: str, p: Mapping[str, Any]) -> dict[str, Any]:
    """Limit / Marker pagination (the marker is the index of the next entry, as text)."""
    start = 0
    if p.get("Marker"):
        try:
            start = int(p["Marker"])
        except ValueError:
            raise KmsFailure("InvalidMarkerException", "The marker is not valid.") from None
    limit = p.get("Limit") or 100
    chunk = entries[start : start + limit]
    more = start + limit < len(entries)
    response: dict[str, Any] = {name: chunk, "Truncated": more}
    if more:
        response["NextMarker"] = str(start + limit)
    return response


def _as_policy(value: str | Mapping[str, Any] | Policy, kind: PolicyKind, what: str) -> Policy:
    if isinstance(value, Policy):
        return value
    from kmsguard.load.policy_builder import build_policy

    document = value if isinstance(value, str) else json.dumps(dict(value))
    policy, diagnostics = build_policy(document, kind, resource=what)
    if diagnostics or not isinstance(policy, Policy):
        problem = diagnostics[0].message if diagnostics else "cannot be read"
        raise ValueError(f"{what}: {problem}")
    return policy


# Answers remembered per view and generation (distinct encryption contexts make distinct requests).
_MAX_REMEMBERED_ANSWERS = 4096
_ALLOW = Outcome.ALLOW  # read on every call: a module global is cheaper than the enum attribute


@dataclass
class _AuthzCache:
    """One view's authorization work for one store generation: the simulator inputs per key, the
    key-describing condition keys per key, and the answer per identical request."""

    generation: int = -1
    inputs: dict[str | None, AuthzInputs] = field(default_factory=dict)
    key_contexts: dict[str, dict[str, ContextValue]] = field(default_factory=dict)
    resolved: dict[str, tuple[KmsKey, str | None]] = field(default_factory=dict)
    blob_keys: dict[str, KmsKey] = field(default_factory=dict)  # key ARN in a ciphertext -> its key
    answers: dict[tuple[Any, ...], tuple[Request, Decision]] = field(default_factory=dict)


def _as_utc(value: Any) -> datetime | None:
    """A timestamp parameter as boto3 accepts it (datetime, ISO 8601 text or epoch seconds) as an
    aware UTC datetime; a naive datetime is UTC, as botocore serializes it."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        from botocore.utils import parse_timestamp

        try:
            value = parse_timestamp(value)
        except (ValueError, TypeError):
            raise KmsFailure("ValidationException", "ValidTo is not a valid timestamp.") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _forget_key(store: _Store, key_id: str) -> None:
    """A deleted key, with its aliases and grants."""
    del store.keys[key_id]
    for name in [n for n, a in store.aliases.items() if a.target_key_id == key_id]:
        del store.aliases[name]
    for grant_id in [g for g, r in store.grants.items() if r.key_id == key_id]:
        del store.grants[grant_id]


def _earliest_event(keys: Any) -> datetime | None:
    """The first moment a key's deletion or automatic rotation falls due (None: never)."""
    moments = [
        moment
        for key in keys
        for moment in (
            key.deletion_date if key.state == "PendingDeletion" else None,
            key.next_rotation if key.rotation_enabled and key.state == "Enabled" else None,
            *(m.valid_to for m in key.materials if m.secret is not None),
        )
        if moment is not None
    ]
    return min(moments) if moments else None


def _replace_material(materials: tuple[KeyMaterial, ...], material: KeyMaterial) -> tuple[KeyMaterial, ...]:
    """``materials`` with ``material``'s record replaced (same id) or appended."""
    if any(m.material_id == material.material_id for m in materials):
        return tuple(material if m.material_id == material.material_id else m for m in materials)
    return (*materials, material)


def _without_material(key: KmsKey, material_id: str) -> KmsKey:
    """The key with one imported material deleted (see ``LocalKMS._forget_material``)."""
    materials = tuple(
        replace(m, secret=None, import_state="PENDING_IMPORT", valid_to=None)
        if m.material_id == material_id
        else m
        for m in key.materials
    )
    return key.with_changes(
        materials=materials, state="PendingDeletion" if key.state == "PendingDeletion" else "PendingImport"
    )
