"""Forms: the JSON-Schema form model, validation, POST coercion and FIM XDatenfelder import.

Pure Python (no Django). The conventions implemented here are described in docs/forms.md.
"""

from .coerce import errors_for_step, step_data_from_post, with_file
from .fim import FimImportError, ImportedForm, import_xdf
from .model import Condition, Field, FormSchemaError, FormSpec, Group, Step
from .validation import (
    FieldError,
    check_form_schema,
    file_field_schema,
    sniff_content_type,
    validate,
)

__all__ = [
    "Condition",
    "Field",
    "FieldError",
    "FimImportError",
    "FormSchemaError",
    "FormSpec",
    "Group",
    "ImportedForm",
    "Step",
    "check_form_schema",
    "errors_for_step",
    "file_field_schema",
    "import_xdf",
    "sniff_content_type",
    "step_data_from_post",
    "validate",
    "with_file",
]
