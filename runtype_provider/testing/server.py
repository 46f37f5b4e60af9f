"""The documented path of the local Runtype's app: ``uvicorn --factory runtype_provider.testing.server:create_app``."""

from runtype_provider.testing.fake.app import RuntypeApp, create_app

__all__ = ["RuntypeApp", "create_app"]
