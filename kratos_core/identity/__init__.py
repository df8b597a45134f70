"""Identity schemas, traits validation, the ``ory.sh/kratos`` extension and normalisation."""

from __future__ import annotations

from kratos_core.identity.extension import EXTENSION_KEY, KratosExtension, TraitField
from kratos_core.identity.normalize import normalize_identifier, normalize_phone
from kratos_core.identity.schema import (
    IdentitySchema,
    SchemaLoadError,
    SchemaRef,
    SchemaRegistry,
    UnknownSchemaError,
    decode_schema_id,
    encode_schema_id,
)
from kratos_core.identity.validation import (
    TraitsResult,
    TraitsValidationError,
    ValidationIssue,
    validate_traits,
)

__all__ = [
    "EXTENSION_KEY",
    "IdentitySchema",
    "KratosExtension",
    "SchemaLoadError",
    "SchemaRef",
    "SchemaRegistry",
    "TraitField",
    "TraitsResult",
    "TraitsValidationError",
    "UnknownSchemaError",
    "ValidationIssue",
    "decode_schema_id",
    "encode_schema_id",
    "normalize_identifier",
    "normalize_phone",
    "validate_traits",
]
