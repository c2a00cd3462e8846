from smartroute_llm.testing.fixtures import fake_provider, fake_provider_server

__all__ = ["fake_provider", "fake_provider_server"]
