"""Built-in plugins: core features implemented on the same hooks as external plugins."""
