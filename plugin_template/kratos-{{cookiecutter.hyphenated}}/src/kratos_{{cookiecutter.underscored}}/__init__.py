"""kratos-{{ cookiecutter.hyphenated }}: {{ cookiecutter.description }}.

The hook implementations live in :mod:`kratos_{{ cookiecutter.underscored }}.plugin`, which the
``kratos`` entry point names.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The id config uses for this plugin's component (method, channel or action id).
COMPONENT_ID = "{{ cookiecutter.underscored }}"

__all__ = ["COMPONENT_ID", "__version__"]
