from tests.oauth.fixtures import fake_idp, oauth_env  # noqa: F401 - fixtures
