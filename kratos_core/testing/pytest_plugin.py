"""The pytest plugin of kratos_core (fixtures for plugin authors); filled in by the plugin-kit issue."""
