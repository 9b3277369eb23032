from accounts.models import Identity


def test_control_characters_are_dropped_from_the_name(journey, sso_config, op):
    op.knobs.user = {"sub": "halo-7", "email": "alice@example.com", "name": "Al\x00ice\n"}

    journey.login(sso_config)

    assert Identity.objects.get(sub="halo-7").name == "Alice"
