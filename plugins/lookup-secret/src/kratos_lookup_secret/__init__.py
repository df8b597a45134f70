"""kratos-lookup-secret: backup codes (lookup secrets) as a second factor for kratos_core."""

__all__: list[str] = []
