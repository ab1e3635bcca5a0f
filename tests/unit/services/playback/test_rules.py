from reelcloud.services.playback.rules import decide

RUNGS = [("1080p", 1080), ("240p", 240), ("720p", 720), ("480p", 480)]


def facts(**overrides):
    values = {
        "status": "active",
        "licensed": True,
        "country": "US",
        "title_maturity": "PG-13",
        "profile_maturity": "R",
        "plan_max_height": 1080,
        "device_max_height": 2160,
        "rungs": RUNGS,
    }
    values.update(overrides)
    return values


def test_an_allowed_play_gets_the_rungs_plan_and_device_allow_lowest_first():
    assert decide(**facts()).rungs == ("240p", "480p", "720p", "1080p")
    assert decide(**facts(plan_max_height=480)).rungs == ("240p", "480p")  # basic plan
    assert decide(**facts(device_max_height=720)).rungs == ("240p", "480p", "720p")  # phone
    # Nothing small enough: the smallest rung rather than nothing.
    assert decide(**facts(device_max_height=144)).rungs == ("240p",)


def test_denials_in_order_with_a_reason_and_a_message():
    on_hold = decide(**facts(status="on_hold", licensed=False))
    assert (on_hold.allowed, on_hold.reason) == (False, "plan_on_hold")
    unlicensed = decide(**facts(licensed=False, country="BR"))
    assert unlicensed.reason == "not_licensed"
    assert "BR" in unlicensed.message
    assert decide(**facts(profile_maturity="G")).reason == "maturity"
    assert decide(**facts(profile_maturity="PG-13")).allowed  # equal is fine
    assert decide(**facts(title_maturity="NC-17")).reason == "maturity"  # unknown: refused
    assert decide(**facts(profile_maturity="weird")).reason == "maturity"
    assert decide(**facts(rungs=[])).reason == "no_renditions"
