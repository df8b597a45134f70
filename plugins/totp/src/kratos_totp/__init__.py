"""kratos-totp: authenticator apps (TOTP, RFC 6238) as a second factor for kratos_core."""

__all__: list[str] = []
