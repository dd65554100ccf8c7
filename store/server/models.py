"""Request and response bodies of the feature server (Feast's HTTP shapes, validated).

Request models are flat (no nested models), so their JSON schema can be inlined into the
OpenAPI document of routes that parse the body themselves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

# An entities column holds join keys or request data (inputs of on-demand views), and a push
# column any source column, so their values are any JSON scalar or a list of them. Only their
# JSON shape is checked here (in Rust, no Python call per value), keeping 1 and 1.0 apart; the
# facade converts each value to its declared type by the one conversion every entry point uses
# (store.convert). NaN and Infinity literals are not JSON, and 1e400 is not a float: they are
# refused here; non-finite floats are sent as the strings "NaN", "Infinity", "-Infinity"
# (protobuf's JSON). The one-error-per-member-type noise of a union is folded into one error
# per bad value by store.server.errors.validation_error.
JsonFloat = Annotated[float, Strict(), AllowInfNan(False)]
EntityScalar = Annotated[
    StrictBool | StrictInt | JsonFloat | StrictStr | None, Field(union_mode="left_to_right")
]
EntityValue = Annotated[
    StrictBool | StrictInt | JsonFloat | StrictStr | list[EntityScalar] | None,
    Field(union_mode="left_to_right"),
]
# /write-to-online-store is what Feast's remote online store sends, with requests' json.dumps:
# a NaN or infinite feature arrives as the literal NaN / Infinity (not JSON, but Feast's wire),
# so this one value model takes those literals; it still refuses objects and nested lists, and
# the route refuses a finite literal beyond a float (1e400), which would parse as infinity.
FeastFloat = Annotated[float, Strict(), AllowInfNan(True)]
WriteScalar = Annotated[
    StrictBool | StrictInt | FeastFloat | StrictStr | None, Field(union_mode="left_to_right")
]
WriteValue = Annotated[
    StrictBool | StrictInt | FeastFloat | StrictStr | list[WriteScalar] | None,
    Field(union_mode="left_to_right"),
]
ENTITY_VALUE_MSG = (
    "an entity value must be a JSON number, string, boolean or null, or a list of those "
    "(non-finite floats as the strings 'NaN', 'Infinity', '-Infinity')"
)


def _equal_lengths(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ValueError(f"every column needs the same number of values ({shown})")
    return columns


def _rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    # Lengths were checked equal by the validator.
    if len(columns) == 1:
        [(name, values)] = columns.items()
        return [{name: v} for v in values]
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]  # noqa: B905


def exactly_one(first: str, first_type: str, second: str, second_type: str) -> dict[str, Any]:
    """Exactly one of ``first`` / ``second``, as JSON Schema (a null counts as absent, and so
    does an empty list: Feast's default ``features: []`` beside a service), so schema-driven
    clients and fuzzers know the rule a model's validator enforces."""
    absent: dict[str, Any] = {"type": "null"}
    if first_type == "array":
        absent = {"anyOf": [absent, {"type": "array", "maxItems": 0}]}
    return {
        "oneOf": [
            {
                "required": [first],
                "properties": {first: {"type": first_type}, second: {"type": "null"}},
            },
            {
                "required": [second],
                "properties": {second: {"type": second_type}, first: absent},
            },
        ]
    }


_EXACTLY_ONE = exactly_one("features", "array", "feature_service", "string")


class GetOnlineFeaturesRequest(BaseModel):
    """Feast's ``/get-online-features`` request: exactly one of features / feature_service,
    and entity columns."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_EXACTLY_ONE)

    features: list[StrictStr] | None = Field(
        default=None,
        min_length=1,
        description="Feature references 'view:feature' (or 'view' for all).",
    )
    feature_service: StrictStr | None = Field(
        default=None, min_length=1, description="A feature service name, instead of features."
    )
    entities: dict[StrictStr, list[EntityValue]] = Field(
        description=(
            "Join-key columns, and request data for on-demand views: "
            "{'user_id': [1, 2], 'amount': [12.5, 3]}; every column the same length."
        ),
        min_length=1,
    )
    full_feature_names: StrictBool = Field(
        default=False, description="Name feature columns 'view__feature'."
    )
    include_feature_view_version_metadata: StrictBool = Field(
        default=False,
        description=(
            "Add metadata.feature_view_metadata: [{name, version, parity_version}] for each "
            "view read (Feast's shape; version counts the view's applied versions, "
            "parity_version is its content hash)."
        ),
    )
    parity_statuses: StrictBool = Field(
        default=False,
        description=(
            "Return Parity's statuses (PRESENT, MISSING, EXPIRED, VERSION_MISMATCH) instead "
            "of Feast's names."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _feast_default(cls, data: Any) -> Any:
        # Feast's request model defaults features to []: an empty list next to a service
        # means "no list", as it does for feast serve.
        if isinstance(data, dict) and data.get("features") == [] and data.get("feature_service"):
            data = {k: v for k, v in data.items() if k != "features"}
        return data

    @model_validator(mode="after")
    def _check(self) -> GetOnlineFeaturesRequest:
        if (self.features is None) == (self.feature_service is None):
            raise ValueError("give exactly one of 'features' or 'feature_service'")
        return self

    _lengths = field_validator("entities")(_equal_lengths)

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[str] | None) -> list[str] | None:
        if features is not None and len(set(features)) < len(features):
            twice = sorted({f for f in features if features.count(f) > 1})
            raise ValueError(f"feature(s) requested twice: {', '.join(twice)}")
        return features

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.entities.values())))

    def entity_rows(self) -> list[dict[str, Any]]:
        """The entity columns as rows (what the facade reads)."""
        return _rows(self.entities)


class PushRequest(BaseModel):
    """Feast's ``/push`` request; exactly one of ``push_source_name`` (a push source, or a
    feature view) / ``view`` (a feature view)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=exactly_one("push_source_name", "string", "view", "string"),
    )

    push_source_name: StrictStr | None = Field(
        default=None, description="A push source (every view it feeds), or a feature view."
    )
    view: StrictStr | None = Field(default=None, description="The feature view to push to.")
    df: dict[StrictStr, list[EntityValue]] = Field(
        description=(
            "Columns of the rows to push: join keys, event timestamp, features; optionally "
            "the created timestamp (the source's column or Feast's 'created'). Timestamps "
            "are ISO 8601 strings, naive ones UTC."
        ),
        min_length=1,
    )
    to: Literal["online", "offline", "online_and_offline"] | None = Field(
        default=None,
        description=(
            "Where the rows go; default online_and_offline (Feast's default is online: see "
            "docs/server.md)."
        ),
    )
    allow_registry_cache: StrictBool = Field(default=True, description="Accepted, ignored.")
    transform_on_write: StrictBool = Field(default=True, description="Accepted, ignored.")
    push_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description=(
            "Idempotency id (or the Idempotency-Key header): a retry with the same id appends "
            "nothing again and completes the online write; the answer's detail.status says "
            "'appended' or 'duplicate'. Without one, the push is given an id (detail.push_id)."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> PushRequest:
        if (self.push_source_name is None) == (self.view is None):
            raise ValueError("give exactly one of 'push_source_name' or 'view'")
        return self

    _lengths = field_validator("df")(_equal_lengths)

    @property
    def target(self) -> str:
        return self.view or self.push_source_name or ""

    def rows(self) -> list[dict[str, Any]]:
        return _rows(self.df)


class WriteToOnlineStoreRequest(BaseModel):
    """Feast's ``/write-to-online-store`` request (what Feast's remote online store sends):
    rows written online only, to one feature view."""

    model_config = ConfigDict(extra="forbid")

    feature_view_name: StrictStr = Field(description="The feature view to write to.")
    df: dict[StrictStr, list[WriteValue]] = Field(
        description=(
            "Columns: join keys, features, 'event_timestamp' and optionally 'created' "
            "(ISO 8601, naive = UTC; a null created is now). Values are JSON scalars or lists "
            "of them; the literals NaN, Infinity, -Infinity (what Feast's client sends) are "
            "taken, a number beyond a float (1e400) is refused."
        ),
        min_length=1,
    )
    allow_registry_cache: StrictBool = Field(default=True, description="Accepted, ignored.")
    transform_on_write: StrictBool = Field(default=True, description="Accepted, ignored.")

    _lengths = field_validator("df")(_equal_lengths)

    def rows(self) -> list[dict[str, Any]]:
        return _rows(self.df)


class MaterializeRequest(BaseModel):
    """Feast's ``/materialize`` request (what Feast's client posts for
    ``FeatureStore.materialize`` when its online store is remote)."""

    model_config = ConfigDict(extra="forbid")

    start_ts: StrictStr | None = Field(default=None, description="ISO 8601; naive = UTC.")
    end_ts: StrictStr | None = Field(default=None, description="ISO 8601; naive = UTC.")
    feature_views: list[StrictStr] | None = Field(
        default=None, description="View names; default every view."
    )
    disable_event_timestamp: StrictBool = Field(
        default=False, description="Every row up to now (start_ts and end_ts not needed)."
    )
    full_feature_names: StrictBool = Field(default=False, description="Accepted, ignored.")
    version: StrictStr | None = Field(
        default=None, description="Feast's version pin: refused (Parity serves the applied one)."
    )


class MaterializeIncrementalRequest(BaseModel):
    """Feast's ``/materialize-incremental`` request."""

    model_config = ConfigDict(extra="forbid")

    end_ts: StrictStr = Field(description="ISO 8601; naive = UTC.")
    feature_views: list[StrictStr] | None = Field(
        default=None, description="View names; default every view."
    )
    full_feature_names: StrictBool = Field(default=False, description="Accepted, ignored.")
    version: StrictStr | None = Field(
        default=None, description="Feast's version pin: refused (Parity serves the applied one)."
    )


class FeatureVector(BaseModel):
    """One output column across all entity rows (Feast calls it a feature vector)."""

    values: list[Any]
    statuses: list[str]
    event_timestamps: list[str | None]


class FeatureViewMetadata(BaseModel):
    name: str
    version: int
    parity_version: str


class ResponseMetadata(BaseModel):
    feature_names: list[str]
    feature_view_metadata: list[FeatureViewMetadata] | None = None


class GetOnlineFeaturesResponse(BaseModel):
    """Feast's column-oriented response: join-key columns first, then features."""

    metadata: ResponseMetadata
    results: list[FeatureVector]


class PushResponse(BaseModel):
    view: str
    rows: int
    detail: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    detail: Any


class AnyErrorResponse(RootModel[ErrorResponse | str]):
    """``{"detail": ...}``; or, to a request in Feast's dialect, Feast's error document: a JSON
    string holding ``{"module", "class", "message", "detail"}`` (see docs/server.md)."""
